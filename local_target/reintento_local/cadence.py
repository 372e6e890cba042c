"""The local target's clock settings: seconds read from the environment of the server process.

Tests speed up a cadence (how often alarms evaluate, how long log ingestion takes); the rules
that run at that cadence stay AWS's.
"""

from __future__ import annotations

import os


def seconds_from_env(variable: str, default: float, minimum: float = 0.0) -> float:
    """``variable`` as seconds (at least ``minimum``); ``default`` when unset or not a number."""
    raw = os.environ.get(variable, "")
    try:
        return max(minimum, float(raw)) if raw else default
    except ValueError:
        return default
