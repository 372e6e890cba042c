"""nbval runs the notebooks against a private local target: its own port and state folder,
stopped when the session ends (the notebooks themselves use the defaults).

Results of ``ops`` carry their key values as a record (``ops.display.RECORD_MIME``) beside their
HTML and text renderings. For such an output nbval compares the record only (as sorted JSON, so
``sanitize.cfg`` masks generated names in it as in any text): a change of formatting does not
fail a notebook test, a wrong value does. Outputs without a record (tables, plain values) are
compared whole, as nbval always does.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from typing import Any

import pytest
from nbformat import NotebookNode
from nbval.plugin import IPyNbCell

from ops.display import RECORD_MIME

_compare_outputs = IPyNbCell.compare_outputs


def _values_only(outputs: list[Any]) -> list[Any]:
    kept = []
    for output in outputs:
        data = output.get("data") or {}
        if RECORD_MIME in data:
            record = json.dumps(data[RECORD_MIME], sort_keys=True, indent=1)
            output = NotebookNode({**output, "data": NotebookNode({RECORD_MIME: record})})
        kept.append(output)
    return kept


def _compare_records(
    self: IPyNbCell, test: list[Any], ref: list[Any], skip_compare: Any = None
) -> bool:
    return bool(_compare_outputs(self, _values_only(test), _values_only(ref), skip_compare))


def pytest_configure(config: pytest.Config) -> None:
    from reintento_local.process import free_port

    IPyNbCell.compare_outputs = _compare_records  # type: ignore[method-assign]
    os.environ["REINTENTO_LOCAL_PORT"] = str(free_port())
    os.environ["REINTENTO_STATE_DIR"] = tempfile.mkdtemp(prefix="reintento-nbval-")
    # metrics 2 s after the calls (AWS: a minute or more), as `make run` has them
    os.environ.setdefault("REINTENTO_METRICS_DELAY_SECONDS", "2")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the first notebook cell: the function's Python environment built (once per machine,
    cached), as on the machine that recorded the notebooks. A first deploy builds it and says so
    on stderr, an output the recorded notebook does not have; under `make test`'s two workers the
    notebooks may run before any test has built it."""
    if isinstance(item, IPyNbCell):
        _function_environment()


@functools.cache
def _function_environment() -> None:
    from ops.modelfiles.versions import LAMBDA_DIR
    from reintento_local import python_for

    python_for(LAMBDA_DIR)


def pytest_unconfigure(config: pytest.Config) -> None:
    from ops.targets.local import stop_local

    stop_local()
