"""The deployed service as ops uses it, through a target: invoking the function and reading its
answers (``function``), and which model is live behind the ``live`` alias (``live_model``)."""
