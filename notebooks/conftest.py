"""nbval runs the notebooks against a private local target: its own port and state folder,
stopped when the session ends (the notebooks themselves use the defaults)."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from ops.local.process import free_port

    os.environ["REINTENTO_LOCAL_PORT"] = str(free_port())
    os.environ["REINTENTO_STATE_DIR"] = tempfile.mkdtemp(prefix="reintento-nbval-")


def pytest_unconfigure(config: pytest.Config) -> None:
    from ops.local_target import stop_local

    stop_local()
