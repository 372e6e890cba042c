"""Start, stop and inspect the local target with the resolved settings."""

from __future__ import annotations

from typing import Any

from ops.local import process
from ops.local.process import LocalTargetStatus
from ops.settings import Settings
from ops.target import forget


def start_local(settings: Settings | None = None, **overrides: Any) -> LocalTargetStatus:
    """Start the local target if it is not running (idempotent)."""
    s = Settings.resolve(settings, **overrides)
    status = process.ensure_running(s.local_port, s.state_dir)
    forget(s.local_port)
    return status


def stop_local(settings: Settings | None = None, **overrides: Any) -> LocalTargetStatus:
    """Stop it; everything deployed to it is gone (it keeps no state across restarts)."""
    s = Settings.resolve(settings, **overrides)
    forget(s.local_port)
    return process.stop(s.local_port, s.state_dir)


def local_status(settings: Settings | None = None, **overrides: Any) -> LocalTargetStatus:
    s = Settings.resolve(settings, **overrides)
    return process.status(s.local_port, s.state_dir)
