"""Lambda function states on the local target: a function can be put ``Inactive`` or ``Pending``.

https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (Errors)

- ``Inactive`` (idle long enough for Lambda to reclaim its resources): the next invoke fails
  with ``ResourceNotReadyException`` (HTTP 502) and the function goes ``Pending`` while Lambda
  recreates them;
- ``Pending``: invokes fail with ``ResourceConflictException`` (HTTP 409) until the function is
  ``Active`` again (after ``activation_seconds``);
- ``GetFunction``/``GetFunctionConfiguration`` report ``State``, ``StateReason`` and
  ``StateReasonCode`` accordingly, so AWS's ``function_active_v2`` waiter works.

A freshly published version is ``Pending`` for ``PUBLISHED_PENDING_SECONDS`` (reason code
``Creating``), as a new version is on AWS while Lambda prepares it: invoking it, or an alias
routed to it, fails with ``ResourceConflictException`` until it is ``Active``.

Stock moto functions are always ``Active``. A state is set per function name (a substring
match, like ``reintento_local.faults``) in ``<state dir>/function-states.json``:

    [{"function": "InferenceFunction", "state": "Inactive", "activation_seconds": 2}]
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Literal

STATES_FILE = "function-states.json"
PUBLISHED_PENDING_SECONDS = 1.0
_ACTIVE_AFTER = "_reintento_active_after"  # on a published version: when it becomes Active
State = Literal["Inactive", "Pending"]
_lock = threading.Lock()
_REASONS = {
    "Inactive": ("Idle", "The function is inactive: it has not been invoked for a while"),
    "Pending": ("Restoring", "The function is being restored after being inactive"),
}


def set_state(
    state_dir: Path, function: str, state: State, *, activation_seconds: float = 2.0
) -> None:
    """Put the functions whose name contains ``function`` in ``state``."""
    rule = {"function": function, "state": state, "activation_seconds": activation_seconds}
    if state == "Pending":
        rule["active_after"] = time.time() + activation_seconds
    with _lock:
        rules = [r for r in _read(state_dir) if r.get("function") != function]
        _write(state_dir, [*rules, rule])


def _read(state_dir: Path | None) -> list[dict[str, Any]]:
    if state_dir is None:
        return []
    path = state_dir / STATES_FILE
    try:
        rules = json.loads(path.read_text()) if path.is_file() else []
    except (OSError, ValueError):
        return []
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def _write(state_dir: Path, rules: list[dict[str, Any]]) -> None:
    path = state_dir / STATES_FILE
    path.write_text(json.dumps(rules))
    path.chmod(0o600)


def current(state_dir: Path | None, function_name: str) -> tuple[str, str | None, str | None]:
    """(State, StateReasonCode, StateReason) of a function now."""
    with _lock:
        rules = _read(state_dir)
        for rule in rules:
            if str(rule.get("function", "\0")) not in function_name:
                continue
            state = rule.get("state")
            if state == "Pending" and time.time() >= float(rule.get("active_after", 0)):
                assert state_dir is not None
                _write(state_dir, [r for r in rules if r is not rule])
                return "Active", None, None
            if state in _REASONS:
                code, reason = _REASONS[state]
                return str(state), code, reason
    return "Active", None, None


def mark_published(version: Any) -> None:
    """A version just published: ``Pending`` for a while, then ``Active``."""
    setattr(version, _ACTIVE_AFTER, time.time() + PUBLISHED_PENDING_SECONDS)


def _version_pending(fn: Any) -> bool:
    return float(getattr(fn, _ACTIVE_AFTER, 0.0)) > time.time()


def before_invoke(
    state_dir: Path | None, function_name: str, fn: Any = None
) -> tuple[str, str, int] | None:
    """The error an invoke of this function (version ``fn``) gets now, if it is not Active:
    (code, message, HTTP status). An Inactive function starts restoring (Pending) on that first
    invoke."""
    state, _, _ = current(state_dir, function_name)
    if state == "Active" and fn is not None and _version_pending(fn):
        state = "Pending"
    if state == "Active":
        return None
    if state == "Inactive":
        assert state_dir is not None
        with _lock:
            rules = _read(state_dir)
            for rule in rules:
                if str(rule.get("function", "\0")) in function_name:
                    rule["state"] = "Pending"
                    rule["active_after"] = time.time() + float(rule.get("activation_seconds", 2))
            _write(state_dir, rules)
        return (
            "ResourceNotReadyException",
            "The function is inactive and its resources are being restored. Wait for the "
            "function to become Active and try again.",
            502,
        )
    return (
        "ResourceConflictException",
        "The operation cannot be performed at this time. The function is currently in the "
        f"following state: {state}",
        409,
    )


def install(state_dir_of: Any) -> None:
    """Invoke refuses a function that is not Active; its configuration reports its state."""
    from moto.awslambda import models as lm

    original = lm.LambdaFunction.get_configuration

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original(self, *args, **kwargs)
        state, code, reason = current(state_dir_of(), str(self.function_name))
        if state == "Active" and _version_pending(self):
            state, code, reason = "Pending", "Creating", "The function is being created."
        if state != "Active":
            config.update(State=state, StateReasonCode=code, StateReason=reason)
        return config

    setattr(lm.LambdaFunction, "get_configuration", get_configuration)  # noqa: B010
