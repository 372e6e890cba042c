"""estimate_cost: monthly AWS cost from usage, with the breakdown. Pure arithmetic, no AWS.

Every line item the stacks bill is counted (``stack_items``): the signing key and its requests,
log ingestion and storage, alarms, custom metrics, the dashboard, image storage and the access
logs, beside the function's own requests and compute. Each figure the estimate rests on says
where it came from: given by the caller, measured on the deployed function (``measured``: the
REPORT lines ``ops.metrics()`` reads), or assumed (``ASSUMED``, named in the card).

``SEED_ASSUMPTIONS`` are the original design's (README_AWS.md: "~$1/mes para 10,000
invocaciones": S3 $0.02, Lambda $0.20, Step Functions $0.25, CloudWatch $0.50), made explicit;
``seed_estimate`` shows that figure, which left out everything but those four services.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pandas as pd

from ops.cost import prices, stack_items
from ops.display import Card, Shown
from ops.errors import ConfigurationError
from ops.inputs import validate

SEED_ASSUMPTIONS: dict[str, Any] = {
    "invocations": 10_000,
    "memory_mb": 1024,
    "duration_ms": 1200.0,  # billed per invocation
    "state_transitions": 10_000,
    "model_storage_gb": 1.0,
    "log_ingest_gb": 1.0,
}

# What an estimate assumes when neither the caller nor a deployment gives the figure.
ASSUMED: dict[str, float] = {
    "duration_ms": 100.0,  # billed per call, a cold start's init included
    "memory_mb": 1024,  # the stack's default (infra/settings.py)
    "cold_start_ratio": 0.01,  # new execution environments per call
    "log_bytes_per_call": 1_000.0,  # START, END, REPORT, the function's line and its EMF metrics
    "image_gb": 0.5,  # the function's image (Python, scikit-learn, numpy, scipy)
}
GB = 1024**3


class Measured(Protocol):
    """What a deployment measured (``ops.metrics()`` returns one)."""

    @property
    def invocations(self) -> int: ...
    @property
    def cold_starts(self) -> int: ...
    @property
    def mean_billed_ms(self) -> float: ...
    @property
    def memory_mb(self) -> int | None: ...


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float


@dataclass(frozen=True)
class CostEstimate(Shown):
    """Monthly estimate in USD; ``lines`` is the breakdown, ``figures`` where each figure it
    rests on came from (given, measured or assumed)."""

    total_usd: float
    lines: tuple[CostLine, ...]
    prices_date: str = prices.PRICES_DATE
    region: str = prices.PRICES_REGION
    counts: str = field(default="", compare=False)  # the usage it is for, in words
    figures: tuple[tuple[str, str], ...] = field(default=(), compare=False)

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
                *(source for _, source in self.figures),
            ),
            python_notes=(
                "the original design's own figure (about $1 a month: 1,200 ms billed per call "
                "assumed, and no signing key, alarms, metrics or image storage): "
                "`ops.seed_estimate()`",
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "total_usd": self.total_usd,
            "by_service": self.by_service(),
            "region": self.region,
            "figures": dict(self.figures),
        }

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
                *(f"  {source}" for _, source in self.figures),
            ]
        )


def estimate_cost(
    invocations: int = 10_000,
    *,
    memory_mb: int | None = None,
    duration_ms: float | None = None,
    architecture: Literal["x86_64", "arm64"] = "x86_64",
    batch_rows: int = 0,
    slice_rows: int = 5_000,
    slice_duration_ms: float = 2_000.0,
    state_transitions: int = 0,
    model_storage_gb: float = 0.001,
    batch_storage_gb: float = 0.0,
    log_ingest_gb: float | None = None,
    region: str = prices.PRICES_REGION,
    measured: Measured | None = None,
    stack: bool = True,
) -> CostEstimate:
    """Monthly cost of ``invocations`` realtime calls plus ``batch_rows`` batch rows, with every
    item the stacks bill (``stack=False``: the function's usage alone).

    ``duration_ms`` (billed per call) and ``memory_mb`` are, in order: given here, measured on
    the deployment (``measured=ops.metrics()``), or ``ASSUMED``; the card says which. Prices are
    ``region``'s; a region ``prices`` has no figures for is refused. No free tier is applied
    but CloudWatch's three free dashboards.
    """
    region = _priced(region)
    figures = _figures(duration_ms, memory_mb, measured)
    usage = Usage(
        invocations=invocations,
        memory_mb=int(figures.memory_mb),
        duration_ms=figures.duration_ms,
        architecture=architecture,
        batch_rows=batch_rows,
        slice_rows=slice_rows,
        slice_duration_ms=slice_duration_ms,
        state_transitions=state_transitions,
        model_storage_gb=model_storage_gb,
        batch_storage_gb=batch_storage_gb,
        log_ingest_gb=log_ingest_gb,
        cold_start_ratio=figures.cold_start_ratio,
        stack=stack,
    )
    usage.check()
    builders: list[Callable[[Usage], list[CostLine]]] = [
        _s3_lines,
        _lambda_lines,
        _step_functions_lines,
        _cloudwatch_lines,
    ]
    if stack:
        builders += [_kms_lines, _ecr_lines]
    lines = [line for build in builders for line in build(usage) if line.quantity]
    return CostEstimate(
        round(sum(line.usd for line in lines), 4),
        tuple(lines),
        region=region,
        counts=usage.in_words(),
        figures=figures.sources(stack),
    )


def _priced(region: str) -> str:
    if region not in prices.PRICED_REGIONS:
        raise ConfigurationError(
            f"no prices for region {region} here (ops/cost/prices.py has {prices.PRICES_REGION}'s "
            f"list prices, which {', '.join(prices.PRICED_REGIONS)} share); estimate with "
            f"--region {prices.PRICES_REGION} for a figure at those prices, or add {region}'s "
            "prices to ops/cost/prices.py"
        )
    return region


@dataclass(frozen=True)
class _Figures:
    """The figures an estimate rests on, each with where it came from."""

    duration_ms: float
    memory_mb: float
    cold_start_ratio: float
    origin: dict[str, str]

    def sources(self, stack: bool) -> tuple[tuple[str, str], ...]:
        said = [
            (
                "duration_ms",
                f"{self.origin['duration_ms']}: {self.duration_ms:,.4g} ms billed per call",
            ),
            ("memory_mb", f"{self.origin['memory_mb']}: {self.memory_mb:,.0f} MB"),
            (
                "cold_start_ratio",
                f"{self.origin['cold_start_ratio']}: {self.cold_start_ratio:.2%} of calls start "
                "a new execution environment (a signature check each)",
            ),
        ]
        if stack:
            said += [
                (
                    "log_bytes_per_call",
                    f"assumed: {ASSUMED['log_bytes_per_call']:,.0f} bytes of log per call, "
                    "kept uncompressed",
                ),
                ("image_gb", f"assumed: one {ASSUMED['image_gb']:g} GB image kept in ECR"),
            ]
        return tuple(said)


def _figures(
    duration_ms: float | None, memory_mb: int | None, measured: Measured | None
) -> _Figures:
    seen = measured if measured is not None and measured.invocations > 0 else None
    reports = f"measured ({seen.invocations:,} REPORT lines)" if seen else ""
    origin: dict[str, str] = {}

    def pick(name: str, given: float | None, found: float | None) -> float:
        if given is not None:
            origin[name] = "given"
            return given
        if found:
            origin[name] = reports
            return found
        origin[name] = "assumed"
        return ASSUMED[name]

    return _Figures(
        duration_ms=pick("duration_ms", duration_ms, seen.mean_billed_ms if seen else None),
        memory_mb=pick("memory_mb", memory_mb, seen.memory_mb if seen else None),
        cold_start_ratio=pick(
            "cold_start_ratio", None, seen.cold_starts / seen.invocations if seen else None
        ),
        origin=origin,
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
    log_ingest_gb: float | None
    cold_start_ratio: float
    stack: bool

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
        ):
            validate.number(name, getattr(self, name), low=0, high=1e12)
        if self.log_ingest_gb is not None:
            validate.number("log_ingest_gb", self.log_ingest_gb, low=0, high=1e12)
        if self.architecture not in ("x86_64", "arm64"):
            raise ConfigurationError(f"architecture={self.architecture!r} must be x86_64 or arm64")

    @property
    def slices(self) -> int:
        return math.ceil(self.batch_rows / self.slice_rows) if self.batch_rows else 0

    @property
    def cold_starts(self) -> float:
        return self.invocations * self.cold_start_ratio

    @property
    def log_gb(self) -> float:
        """Log ingested in the month: given, else a kilobyte or so per call and per slice."""
        if self.log_ingest_gb is not None:
            return self.log_ingest_gb
        if not self.stack:
            return 0.0
        return (self.invocations + self.slices) * ASSUMED["log_bytes_per_call"] / GB

    def in_words(self) -> str:
        counted = [
            f"{self.invocations:,} realtime calls of {self.duration_ms:,.4g} ms "
            f"at {self.memory_mb:,} MB"
        ]
        counted += [f"{self.batch_rows:,} batch rows"] * bool(self.batch_rows)
        return ", ".join(counted)


def _s3_lines(usage: Usage) -> list[CostLine]:
    """Storage; a batch's slices in and out, its manifest, ticket and the map run's own files;
    the model fetched at each cold start; the access log records those requests leave."""
    slices = usage.slices
    storage = usage.model_storage_gb + usage.batch_storage_gb
    puts, gets = 2 * slices + 4 * bool(slices), 2 * slices + bool(slices)
    gets += 2 * math.ceil(usage.cold_starts) * usage.stack  # a HEAD and a GET of the model
    lines = [
        CostLine("S3", "storage", storage, "GB-month", storage * prices.S3_STANDARD_GB_MONTH),
        CostLine("S3", "PUT requests", puts, "requests", puts * prices.S3_PUT_REQUEST),
        CostLine("S3", "GET and HEAD requests", gets, "requests", gets * prices.S3_GET_REQUEST),
    ]
    if usage.stack:  # an access log record (about 500 bytes) per request on the model bucket,
        # kept ACCESS_LOG_DAYS: at steady state that many days' records are stored
        kept = stack_items.ACCESS_LOG_DAYS / 30
        logged = max(1, 2 * math.ceil(usage.cold_starts)) * 500 / GB * kept
        lines.append(
            CostLine(
                "S3",
                "access logs storage",
                logged,
                "GB-month",
                logged * prices.S3_STANDARD_GB_MONTH,
            )
        )
    return lines


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
    """Log ingestion and storage; with the stack, its alarms, its dashboard and the custom
    metrics the function publishes (prorated: a metric bills only the hours it receives data)."""
    logs = usage.log_gb
    stored = logs * stack_items.LOG_RETENTION_DAYS / 30 if usage.stack else 0.0
    lines = [
        CostLine("CloudWatch", "log ingestion", logs, "GB", logs * prices.CW_LOGS_INGEST_GB),
        CostLine(
            "CloudWatch",
            "log storage",
            stored,
            "GB-month",
            stored * prices.CW_LOGS_STORAGE_GB_MONTH,
        ),
    ]
    if not usage.stack:
        return lines
    hours = prices.HOURS_PER_MONTH
    metric_months = (
        min(hours, usage.invocations) / hours
        + 2 * min(hours, math.ceil(usage.cold_starts)) / hours  # ColdStart, ModelLoadTime
        + len(stack_items.BATCH_METRICS) * min(hours, usage.slices) / hours
        + len(stack_items.DRIFT_METRICS) * min(hours, usage.invocations + usage.slices) / hours
    )
    alarms = stack_items.ALARM_METRICS
    return [
        *lines,
        CostLine(
            "CloudWatch", "alarms", alarms, "alarm metric-months", alarms * prices.CW_ALARM_STANDARD
        ),
        CostLine(
            "CloudWatch",
            "custom metrics",
            metric_months,
            "metric-months",
            metric_months * prices.CW_CUSTOM_METRIC_MONTH,
        ),
        CostLine(
            "CloudWatch",
            "dashboard",
            stack_items.DASHBOARDS,
            "dashboard-months (3 free)",
            0.0,
        ),
    ]


def _kms_lines(usage: Usage) -> list[CostLine]:
    """The signing key, and its requests: a verify at each cold start and each batch slice
    (the run ticket), a sign for each upload and rollout record (one of each assumed)."""
    requests = math.ceil(usage.cold_starts) + usage.slices + 2
    keys = stack_items.SIGNING_KEYS
    return [
        CostLine(
            "KMS", "signing key (customer managed)", keys, "key-months", keys * prices.KMS_KEY_MONTH
        ),
        CostLine(
            "KMS",
            "requests (verify at each cold start, sign at each upload)",
            requests,
            "requests",
            requests * prices.KMS_REQUEST,
        ),
    ]


def _ecr_lines(usage: Usage) -> list[CostLine]:
    """The function's image, kept in the CDK's assets repository."""
    image = ASSUMED["image_gb"]
    return [
        CostLine("ECR", "image storage", image, "GB-month", image * prices.ECR_STORAGE_GB_MONTH)
    ]


def seed_estimate() -> CostEstimate:
    """The original design's figure, from its assumptions: about $1 a month (it counted S3,
    Lambda, Step Functions and 1 GB of logs; not the signing key, alarms, metrics or images)."""
    return estimate_cost(**SEED_ASSUMPTIONS, stack=False)


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
