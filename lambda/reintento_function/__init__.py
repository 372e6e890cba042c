"""The inference function's code: what the image copies, and what ``ops``, ``infra`` and the
tests import to agree with it (``reintento_function.contract``).

Dependencies: scikit-learn, NumPy, pandas, pyarrow, boto3 and Powertools (the image's lock); never
``ops`` or ``infra``.
"""
