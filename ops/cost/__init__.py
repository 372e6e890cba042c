"""estimate_cost: monthly AWS cost from usage, with the breakdown. Pure arithmetic, no AWS.

``SEED_ASSUMPTIONS`` are the original design's (README_AWS.md: "~$1/mes para 10,000
invocaciones": S3 $0.02, Lambda $0.20, Step Functions $0.25, CloudWatch $0.50), made explicit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ops import validate
from ops.cost import prices
from ops.display import Card, Shown
from ops.errors import ConfigurationError

SEED_ASSUMPTIONS: dict[str, Any] = {
    "invocations": 10_000,
    "memory_mb": 1024,
    "duration_ms": 1200.0,  # billed per invocation
    "state_transitions": 10_000,
    "model_storage_gb": 1.0,
    "log_ingest_gb": 1.0,
}


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float


@dataclass(frozen=True)
class CostEstimate(Shown):
    """Monthly estimate in USD; ``lines`` is the breakdown."""

    total_usd: float
    lines: tuple[CostLine, ...]
    prices_date: str = prices.PRICES_DATE
    region: str = prices.PRICES_REGION
    counts: str = field(default="", compare=False)  # the usage it is for, in words

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = round(out.get(line.service, 0.0) + line.usd, 4)
        return out

    def card(self) -> Card:
        return Card(
            "Cost estimate",
            f"${self.total_usd:,.2f} a month" + (f" for {self.counts}" if self.counts else ""),
            key=tuple((service, f"${usd:,.2f}") for service, usd in self.by_service().items()),
            details=tuple(
                (
                    f"{line.service}: {line.item}",
                    f"{line.quantity:,.6g} {line.unit}, ${line.usd:,.4f}",
                )
                for line in self.lines
            ),
            notes=(
                f"counts the lines above, at the prices of {self.prices_date} ({self.region}); "
                "no free tier applied but CloudWatch's three free dashboards",
            ),
            python_notes=(
                "the original design's own figure (about $1 a month, 1,200 ms billed per call "
                "assumed): `ops.seed_estimate()`",
            ),
        )

    def record(self) -> dict[str, Any]:
        return {"total_usd": self.total_usd, "by_service": self.by_service()}

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame([line.__dict__ for line in self.lines])
        frame["usd"] = frame["usd"].round(4)
        return frame

    def __str__(self) -> str:
        rows = [f"{s:<16}${v:8.2f}" for s, v in self.by_service().items()]
        return "\n".join(
            [
                *rows,
                f"{'total':<16}${self.total_usd:8.2f}  "
                f"(prices of {self.prices_date}, {self.region})",
            ]
        )


def estimate_cost(
    invocations: int = 10_000,
    *,
    memory_mb: int = 1024,
    duration_ms: float = 1200.0,
    architecture: Literal["x86_64", "arm64"] = "x86_64",
    batch_rows: int = 0,
    slice_rows: int = 5_000,
    slice_duration_ms: float = 2_000.0,
    state_transitions: int = 0,
    model_storage_gb: float = 0.001,
    batch_storage_gb: float = 0.0,
    log_ingest_gb: float = 0.0,
    alarms: int = 0,
    dashboards: int = 0,
) -> CostEstimate:
    """Monthly cost of ``invocations`` realtime calls plus ``batch_rows`` batch rows.

    Durations are billed milliseconds per invocation (use ``metrics().mean_billed_ms``).
    No free tier is applied. Dashboards beyond the free three are charged.
    """
    usage = Usage(
        invocations=invocations,
        memory_mb=memory_mb,
        duration_ms=duration_ms,
        architecture=architecture,
        batch_rows=batch_rows,
        slice_rows=slice_rows,
        slice_duration_ms=slice_duration_ms,
        state_transitions=state_transitions,
        model_storage_gb=model_storage_gb,
        batch_storage_gb=batch_storage_gb,
        log_ingest_gb=log_ingest_gb,
        alarms=alarms,
        dashboards=dashboards,
    )
    usage.check()
    lines = [
        line
        for lines_of in (_s3_lines, _lambda_lines, _step_functions_lines, _cloudwatch_lines)
        for line in lines_of(usage)
        if line.quantity
    ]
    return CostEstimate(
        round(sum(line.usd for line in lines), 4), tuple(lines), counts=usage.in_words()
    )


@dataclass(frozen=True)
class Usage:
    """A month's usage, as ``estimate_cost`` takes it."""

    invocations: int
    memory_mb: int
    duration_ms: float
    architecture: str
    batch_rows: int
    slice_rows: int
    slice_duration_ms: float
    state_transitions: int
    model_storage_gb: float
    batch_storage_gb: float
    log_ingest_gb: float
    alarms: int
    dashboards: int

    def check(self) -> None:
        """A ``ConfigurationError`` naming the first value out of range."""
        for name in ("invocations", "batch_rows"):
            validate.integer(name, getattr(self, name), low=0, high=10**12)
        validate.integer("memory_mb", self.memory_mb, low=128, high=10240)
        validate.integer("slice_rows", self.slice_rows, low=1, high=10**9)
        for name in (
            "duration_ms",
            "slice_duration_ms",
            "model_storage_gb",
            "batch_storage_gb",
            "log_ingest_gb",
        ):
            validate.number(name, getattr(self, name), low=0, high=1e12)
        if self.architecture not in ("x86_64", "arm64"):
            raise ConfigurationError(f"architecture={self.architecture!r} must be x86_64 or arm64")

    @property
    def slices(self) -> int:
        return math.ceil(self.batch_rows / self.slice_rows) if self.batch_rows else 0

    def in_words(self) -> str:
        counted = [
            f"{self.invocations:,} realtime calls of {self.duration_ms:,.4g} ms "
            f"at {self.memory_mb:,} MB"
        ]
        counted += [f"{self.batch_rows:,} batch rows"] * bool(self.batch_rows)
        counted += [f"{self.log_ingest_gb:g} GB of logs"] * bool(self.log_ingest_gb)
        counted += [f"{self.alarms} alarm(s)"] * bool(self.alarms)
        counted += [f"{self.dashboards} dashboard(s)"] * bool(self.dashboards)
        return ", ".join(counted)


def _s3_lines(usage: Usage) -> list[CostLine]:
    """Storage; a batch's slices in and out, its manifest and the map run's own files."""
    slices = usage.slices
    storage = usage.model_storage_gb + usage.batch_storage_gb
    puts, gets = 2 * slices + 3 * bool(slices), 2 * slices + bool(slices)
    return [
        CostLine("S3", "storage", storage, "GB-month", storage * prices.S3_STANDARD_GB_MONTH),
        CostLine("S3", "PUT requests", puts, "requests", puts * prices.S3_PUT_REQUEST),
        CostLine("S3", "GET requests", gets, "requests", gets * prices.S3_GET_REQUEST),
    ]


def _lambda_lines(usage: Usage) -> list[CostLine]:
    """Requests (realtime calls and batch slices) and their billed compute."""
    requests = usage.invocations + usage.slices
    billed_ms = usage.invocations * usage.duration_ms + usage.slices * usage.slice_duration_ms
    gb_seconds = usage.memory_mb / 1024 * billed_ms / 1000
    gb_second_price = (
        prices.LAMBDA_GB_SECOND_ARM
        if usage.architecture == "arm64"
        else prices.LAMBDA_GB_SECOND_X86
    )
    return [
        CostLine("Lambda", "requests", requests, "requests", requests * prices.LAMBDA_REQUEST),
        CostLine(
            "Lambda",
            f"compute ({usage.architecture})",
            gb_seconds,
            "GB-seconds",
            gb_seconds * gb_second_price,
        ),
    ]


def _step_functions_lines(usage: Usage) -> list[CostLine]:
    """A batch: one Standard execution (its Distributed Map: a few transitions) and one
    Express child per slice (a request, and its duration at the smallest memory step, billed
    per 100 ms)."""
    slices = usage.slices
    transitions = usage.state_transitions + (3 if slices else 0)
    express_gb_seconds = (
        slices * math.ceil(usage.slice_duration_ms / 100) / 10 * prices.SFN_EXPRESS_MEMORY_GB
    )
    return [
        CostLine(
            "Step Functions",
            "state transitions",
            transitions,
            "transitions",
            transitions * prices.SFN_STATE_TRANSITION,
        ),
        CostLine(
            "Step Functions",
            "Express requests (batch slices)",
            slices,
            "requests",
            slices * prices.SFN_EXPRESS_REQUEST,
        ),
        CostLine(
            "Step Functions",
            "Express duration (batch slices)",
            express_gb_seconds,
            "GB-seconds",
            express_gb_seconds * prices.SFN_EXPRESS_GB_SECOND,
        ),
    ]


def _cloudwatch_lines(usage: Usage) -> list[CostLine]:
    """Log ingestion, alarms, and dashboards beyond the free three."""
    return [
        CostLine(
            "CloudWatch",
            "log ingestion",
            usage.log_ingest_gb,
            "GB",
            usage.log_ingest_gb * prices.CW_LOGS_INGEST_GB,
        ),
        CostLine(
            "CloudWatch",
            "alarms",
            usage.alarms,
            "alarm-months",
            usage.alarms * prices.CW_ALARM_STANDARD,
        ),
        CostLine(
            "CloudWatch",
            "dashboards",
            usage.dashboards,
            "dashboard-months",
            max(0, usage.dashboards - 3) * prices.CW_DASHBOARD,
        ),
    ]


def seed_estimate() -> CostEstimate:
    """The original design's figure, from its assumptions: about $1 a month."""
    return estimate_cost(**SEED_ASSUMPTIONS)


def batch_transform_cost(
    rows: int,
    rows_per_second: float,
    *,
    instance_count: int = 1,
    hourly_usd: float = prices.SAGEMAKER_ML_M5_LARGE_HOUR,
    billed_overhead_s: float = 0.0,
) -> CostEstimate:
    """What SageMaker Batch Transform would bill for ``rows`` rows at ``rows_per_second`` on
    each of ``instance_count`` instances (default: ml.m5.large, ``prices``), for comparison
    with ``estimate_cost(0, batch_rows=...)`` (like it, a month's cost when the rows are a
    month's).

    Batch transform bills each instance from the job's start on it to its end (results
    uploaded), per second. ``rows_per_second`` is the instance's rate through its serving
    container (give the model's own rate for a floor: the container's HTTP and CSV handling
    only slow it); ``billed_overhead_s`` is the billed time that is not inference (the
    container starting, the model loading, S3 transfers), which depends on the image.
    """
    validate.integer("rows", rows, low=0, high=10**12)
    validate.integer("instance_count", instance_count, low=1, high=100)
    validate.number("rows_per_second", rows_per_second, low=1e-9, high=1e12)
    validate.number("hourly_usd", hourly_usd, low=0, high=1e6)
    validate.number("billed_overhead_s", billed_overhead_s, low=0, high=1e9)
    seconds = (rows / (rows_per_second * instance_count) + billed_overhead_s) if rows else 0.0
    hours = seconds * instance_count / 3600
    line = CostLine(
        "SageMaker", "batch transform instance time", hours, "instance-hours", hours * hourly_usd
    )
    return CostEstimate(round(line.usd, 6), (line,))
