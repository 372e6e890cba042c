"""Typed settings of the stacks, with defaults; ``app.py`` fills them from CDK context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from infra.names import MAX_BATCH_TIMEOUT_SECONDS
from reintento_function import contract

Architecture = Literal["x86_64", "arm64"]


@dataclass(frozen=True)
class StackSettings:
    """Everything a deployment can choose (``cdk -c key=value``)."""

    stage: str = "dev"
    stack_prefix: str = "Reintento"
    memory_mb: int = 1024
    timeout_seconds: int = 30
    architecture: Architecture = "x86_64"
    reserved_concurrency: int | None = None
    model_key: str = "models/mejor_modelo.pkl"
    model_refresh_seconds: int = 60
    max_rows: int = contract.DEFAULT_MAX_ROWS
    max_concurrency: int = 8
    # share of a batch's slices whose child workflow may fail before the batch fails; a slice's
    # caught error is recorded and its child succeeds, so only platform failures count
    tolerated_failure_percentage: int = 100
    log_retention_days: int = 30
    batch_expiration_days: int = 7
    alarm_email: str | None = None
    # the drift alarm: the worst feature's share of values out of its training profile, averaged
    # over the requests and batch slices of 5 minutes, above this percentage
    drift_alarm_percent: float = 10.0
    # the realtime latency alarm: the p99 of realtime requests' handler time above this many ms;
    # `ops deploy` derives it from the stage's measured latency (ops/service/latency_alarm.py);
    # None: 80% of the timeout
    latency_alarm_ms: float | None = None

    @property
    def model_stack_name(self) -> str:
        return str(contract.stack_names(self.stack_prefix, self.stage)[0])

    @property
    def service_stack_name(self) -> str:
        return str(contract.stack_names(self.stack_prefix, self.stage)[1])

    def __post_init__(self) -> None:
        if self.architecture not in ("x86_64", "arm64"):
            raise ValueError(f"architecture must be x86_64 or arm64, got {self.architecture!r}")
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"memory_mb must be 128..10240, got {self.memory_mb}")
        limit = MAX_BATCH_TIMEOUT_SECONDS
        if not 1 <= self.timeout_seconds <= limit:
            raise ValueError(
                f"timeout_seconds must be 1..{limit}, got {self.timeout_seconds}: a batch slice "
                "runs in an Express child workflow, stopped after 5 minutes, and its first try, "
                "3 retries of a timeout (each after Lambda's Init, up to 10 s) and their waits "
                "must fit (infra/names.py)"
            )
        if not 0 < self.drift_alarm_percent <= 100:
            raise ValueError(
                f"drift_alarm_percent must be above 0 and at most 100, got "
                f"{self.drift_alarm_percent}: the share of a feature's values out of its "
                "training profile that raises the drift alarm"
            )
        if self.latency_alarm_ms is not None and not (
            1 <= self.latency_alarm_ms <= self.timeout_seconds * 1000
        ):
            raise ValueError(
                f"latency_alarm_ms must be 1..{self.timeout_seconds * 1000} (the timeout), got "
                f"{self.latency_alarm_ms:g}: the p99 of realtime requests' time, in ms, that "
                "raises the latency alarm"
            )
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if not 0 <= self.tolerated_failure_percentage <= 100:
            raise ValueError(
                "tolerated_failure_percentage must be 0..100, "
                f"got {self.tolerated_failure_percentage}"
            )


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "", "none", "None") else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value in (None, "", "none", "None") else float(value)


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "", "none", "None") else str(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "memory_mb": int,
    "timeout_seconds": int,
    "reserved_concurrency": _int_or_none,
    "model_refresh_seconds": int,
    "max_rows": int,
    "max_concurrency": int,
    "tolerated_failure_percentage": int,
    "log_retention_days": int,
    "batch_expiration_days": int,
    "alarm_email": _str_or_none,
    "drift_alarm_percent": float,
    "latency_alarm_ms": _float_or_none,
}


def settings_from_context(context: Mapping[str, Any]) -> StackSettings:
    """Build settings from context values (strings on the command line); unknown keys ignored,
    but for a setting that is gone, which is refused saying why."""
    if context.get("noncurrent_version_days") is not None:
        raise ValueError(
            "noncurrent_version_days is gone: the model bucket keeps every model version (after "
            "a rollback the live model is a noncurrent version, and expiring it would stop new "
            "execution environments from loading it); leave it out, delete old versions "
            "yourself, or delete them all with `python -m ops teardown --delete-model-bucket`"
        )
    values: dict[str, Any] = {}
    for f in fields(StackSettings):
        if f.name in context and context[f.name] is not None:
            values[f.name] = _PARSERS.get(f.name, str)(context[f.name])
    return StackSettings(**values)
