"""Platform faults on demand: make the local Lambda crash or time out, to test what survives.

A JSON list in ``<state dir>/faults.json``; each rule fails the next ``count`` invocations of
functions whose name contains ``function`` and whose event has the top-level key ``event_key``:

    [{"function": "InferenceFunction", "event_key": "batch_slice", "kind": "crash", "count": 1}]

``kind`` is ``crash`` (the environment dies: ``Runtime.ExitError``), ``timeout``
(``Sandbox.Timedout``) or ``throttle`` (the Invoke API answers ``TooManyRequestsException``,
HTTP 429, as Lambda does past its concurrency) or ``slow`` (the invocation is held ``seconds``
before it runs, then runs as usual: a slice still in flight when something else happens). Spent
rules are written back, so a test sees what was used.

One rule is a setting, never spent: ``{"kind": "late_metrics", "seconds": 15}`` makes the
metrics of every call from now on arrive ``seconds`` after it (``reintento_local.aws_metrics``)
instead of the server's ``REINTENTO_METRICS_DELAY_SECONDS``: a test sees what a reader does
when CloudWatch is later than the calls it judges.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

FAULTS_FILE = "faults.json"
Kind = Literal["crash", "timeout", "throttle", "slow", "late_metrics"]
PLATFORM_KINDS: tuple[Kind, ...] = ("crash", "timeout")
_lock = threading.Lock()


def inject(state_dir: Path, rules: list[dict[str, Any]]) -> None:
    """Replace the fault rules (an empty list clears them), at once: a reader sees the old
    rules or the new ones, never half a file."""
    _write(state_dir, rules)


def _write(state_dir: Path, rules: list[dict[str, Any]]) -> None:
    """Write the rules at once (a new file moved in place): a reader never sees half a file."""
    written = state_dir / f".{FAULTS_FILE}.{os.getpid()}.{threading.get_ident()}"
    written.write_text(json.dumps(rules))
    os.replace(written, state_dir / FAULTS_FILE)


def remaining(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / FAULTS_FILE
    return list(json.loads(path.read_text())) if path.is_file() else []


def take(
    state_dir: Path | None,
    function_name: str,
    payload: bytes,
    kinds: tuple[Kind, ...] = PLATFORM_KINDS,
) -> Kind | None:
    """The fault of one of ``kinds`` to apply to this invocation, if a rule matches (and spend
    one)."""
    rule = _take_rule(state_dir, function_name, payload, kinds)
    return None if rule is None else rule.get("kind", "crash")


def delay(state_dir: Path | None, function_name: str, payload: bytes) -> float:
    """How long to hold this invocation before it runs (a ``slow`` rule; 0 when none)."""
    rule = _take_rule(state_dir, function_name, payload, ("slow",))
    return float(rule.get("seconds", 0.0)) if rule is not None else 0.0


def late_metrics(state_dir: Path | None) -> float | None:
    """The ``late_metrics`` rule's seconds (None when there is none)."""
    if state_dir is None:
        return None
    with _lock:
        try:
            rules = remaining(state_dir)
        except (OSError, ValueError):
            return None
    for rule in rules:
        if isinstance(rule, dict) and rule.get("kind") == "late_metrics":
            try:
                return max(0.0, float(rule.get("seconds", 0.0)))
            except (TypeError, ValueError):
                return None  # a malformed rule: the server's own delay
    return None


def _take_rule(
    state_dir: Path | None, function_name: str, payload: bytes, kinds: tuple[Kind, ...]
) -> dict[str, Any] | None:
    if state_dir is None:
        return None
    path = state_dir / FAULTS_FILE
    if not path.is_file():
        return None
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    with _lock:
        try:
            rules = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        for rule in rules:
            key = rule.get("event_key")
            if rule.get("count", 0) <= 0 or rule.get("function", "") not in function_name:
                continue
            if rule.get("kind", "crash") not in kinds:
                continue
            if key and not (isinstance(event, dict) and key in event):
                continue
            rule["count"] -= 1
            _write(state_dir, rules)  # a test polling remaining() reads it meanwhile
            return dict(rule)
    return None
