"""Start, stop and inspect the local target with the resolved settings."""

from __future__ import annotations

from ops.aws.faults import user_facing
from ops.aws.target import forget
from ops.local import process
from ops.local.process import LocalTargetStatus
from ops.settings import Settings


@user_facing
def start_local(*, settings: Settings | None = None) -> LocalTargetStatus:
    """Start the local target if it is not running (idempotent)."""
    s = settings or Settings.resolve()
    status = process.ensure_running(s.local_port, s.state_dir)
    forget(s.local_port)
    return status


@user_facing
def stop_local(*, settings: Settings | None = None) -> LocalTargetStatus:
    """Stop it; everything deployed to it is gone (it keeps no state across restarts)."""
    s = settings or Settings.resolve()
    forget(s.local_port)
    return process.stop(s.local_port, s.state_dir)


@user_facing
def local_status(*, settings: Settings | None = None) -> LocalTargetStatus:
    s = settings or Settings.resolve()
    return process.status(s.local_port, s.state_dir)
