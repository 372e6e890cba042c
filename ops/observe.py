"""logs and metrics: recent log events, and the REPORT figures of the function's invocations.

CloudWatch Logs shows an event only once it is ingested, seconds after it was written, and its
pages may be partial or empty before the end
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html):
right after a call, its REPORT line may not be there yet. So both verbs first wait (at most
``SETTLE_SECONDS``) until the REPORT line of every invocation ``ops`` made in the window is
visible (the target notes each invocation's request id), and say how many were still missing.
FilterLogEvents is limited to 5 requests a second per account and Region
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html): every
read here is paced under it.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, overload

import pandas as pd

from ops.aws.faults import user_facing
from ops.display import Card, Plan, Shown
from ops.errors import ConfigurationError, OpsError
from ops.inputs import validate
from ops.service.drift import DriftReport, read_batch, read_window
from ops.settings import Settings
from ops.targets import Target, target_for
from reintento_function import contract

_REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+"
    r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<memory>\d+) MB"
    r"(?:\s+Max Memory Used: (?P<used>\d+) MB)?(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)


MAX_LOG_LIMIT = 100_000
MAX_SINCE_SECONDS = 14 * 24 * 3600  # how far back one query may look
SETTLE_SECONDS = 30.0  # the longest wait for the REPORT lines of ops' own calls
FILTER_REQUESTS_PER_SECOND = 4  # under FilterLogEvents' quota of 5, for this process


class _Pace:
    """At most ``per_second`` calls a second from this process (a shared, thread-safe gap)."""

    def __init__(self, per_second: int) -> None:
        self.gap = 1.0 / per_second
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + self.gap
        if start > now:
            time.sleep(start - now)


_FILTER_PACE = _Pace(FILTER_REQUESTS_PER_SECOND)


@dataclass(frozen=True)
class LogEvent:
    """One line the function logged: when (milliseconds since the epoch), in which stream."""

    timestamp_ms: int
    stream: str
    message: str


@dataclass(frozen=True)
class Report:
    """One REPORT line: what Lambda bills and how long the invocation took."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int | None
    init_ms: float | None
    # the function version that ran it (its log stream's "[VERSION]"), and what it was:
    # "batch" (a batch slice) or "realtime" (every other call)
    version: str = ""
    kind: str = ""

    @property
    def cold(self) -> bool:
        return self.init_ms is not None


@dataclass(frozen=True)
class Group:
    """The REPORT figures of one function version's calls of one kind."""

    version: str
    kind: str
    invocations: int
    cold_starts: int
    p50_ms: float
    p99_ms: float

    def line(self) -> str:
        return (
            f"{self.invocations:,} calls ({self.cold_starts} cold), p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms"
        )


_STREAM_VERSION = re.compile(r"/\[([^\]]+)\]")


def stream_version(stream: str) -> str:
    """The function version of a Lambda log stream (``2026/12/05/[3]abc...``)."""
    found = _STREAM_VERSION.search(stream)
    return found.group(1) if found else ""


def parse_report(message: str) -> Report | None:
    match = _REPORT.search(message)
    if not match:
        return None
    return Report(
        match["id"],
        float(match["duration"]),
        int(match["billed"]),
        int(match["memory"]),
        int(match["used"]) if match["used"] else None,
        float(match["init"]) if match["init"] else None,
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Metrics(Shown):
    """Figures from REPORT lines; ``reports`` has every line read."""

    invocations: int
    cold_starts: int
    p50_ms: float
    p99_ms: float
    mean_billed_ms: float
    mean_init_ms: float | None
    memory_mb: int | None
    reports: tuple[Report, ...] = field(repr=False, compare=False, default=())
    # invocations ops made in the window whose REPORT line was still not visible after waiting
    missing_reports: int = field(compare=False, default=0)
    # per function version and kind of call (realtime, batch): a batch's slices are long and
    # would hide realtime latency in one p99
    groups: tuple[Group, ...] = field(compare=False, default=())

    def group(self, version: str, kind: str) -> Group | None:
        return next((g for g in self.groups if (g.version, g.kind) == (version, kind)), None)

    def card(self) -> Card:
        return Card(
            "What Lambda reports",
            f"{self.invocations:,} invocations, {self.cold_starts} cold",
            key=(
                ("invocations", self.invocations),
                ("cold starts", self.cold_starts),
                ("duration p50", f"{self.p50_ms:.1f} ms"),
                ("duration p99", f"{self.p99_ms:.1f} ms"),
                ("mean billed", f"{self.mean_billed_ms:.1f} ms"),
            ),
            details=(
                ("mean init", f"{self.mean_init_ms:.1f} ms" if self.mean_init_ms else None),
                ("memory", f"{self.memory_mb} MB" if self.memory_mb else None),
                *((f"version {g.version} {g.kind}", g.line()) for g in self.groups),
            ),
            python_notes=("`.table()` has each REPORT line",),
            cli_notes=("`--json` prints each REPORT line",),
            notes=(
                "from the REPORT lines in the function's log",
                *(
                    (
                        f"{self.missing_reports} call(s) made here have no REPORT line yet "
                        "(CloudWatch Logs ingestion); read again in a minute",
                    )
                    if self.missing_reports
                    else ()
                ),
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "cold_starts": self.cold_starts,
            "mean_billed_ms": self.mean_billed_ms,
            "memory_mb": self.memory_mb,
            "missing_reports": self.missing_reports,
        }

    def table(self) -> pd.DataFrame:
        """The REPORT lines as a table (cold starts have init_ms)."""
        return pd.DataFrame([r.__dict__ | {"cold": r.cold} for r in self.reports])


def deployed_figures(
    settings: Settings | None = None, since: float = 24 * 3600.0
) -> Metrics | None:
    """What the deployed function's REPORT lines of the last ``since`` seconds show, for a cost
    estimate (``estimate_cost(measured=...)``); None when there is nothing to measure (the
    target is not running, nothing is deployed, no credentials, no calls). Starts nothing."""
    target = target_for(settings)
    if not target.running():
        return None
    try:
        figures = metrics(since, settings=target.settings)
    except OpsError:
        return None
    return figures if figures.invocations else None


def _groups(reports: list[Report]) -> tuple[Group, ...]:
    by_key: dict[tuple[str, str], list[Report]] = {}
    for r in reports:
        if r.version or r.kind:
            by_key.setdefault((r.version, r.kind), []).append(r)
    return tuple(
        Group(
            version,
            kind,
            len(group),
            sum(1 for r in group if r.cold),
            percentile([r.duration_ms for r in group], 50),
            percentile([r.duration_ms for r in group], 99),
        )
        for (version, kind), group in sorted(by_key.items())
    )


def summarize_reports(reports: list[Report]) -> Metrics:
    durations = [r.duration_ms for r in reports]
    inits = [r.init_ms for r in reports if r.init_ms is not None]
    return Metrics(
        invocations=len(reports),
        cold_starts=len(inits),
        p50_ms=percentile(durations, 50),
        p99_ms=percentile(durations, 99),
        mean_billed_ms=statistics.fmean([r.billed_ms for r in reports]) if reports else 0.0,
        mean_init_ms=statistics.fmean(inits) if inits else None,
        memory_mb=reports[0].memory_mb if reports else None,
        reports=tuple(reports),
        groups=_groups(reports),
    )


def _events(logs_client: Any, group: str, since_ms: int, pattern: str | None) -> list[LogEvent]:
    """Every page (an empty or partial page is not the end: only a missing nextToken is),
    each request paced under the FilterLogEvents quota."""
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": since_ms}
    if pattern:
        kwargs["filterPattern"] = pattern
    found: list[LogEvent] = []
    while True:
        _FILTER_PACE.wait()
        page = logs_client.filter_log_events(**kwargs)
        for event in page.get("events", []):
            found.append(
                LogEvent(int(event["timestamp"]), event.get("logStreamName", ""), event["message"])
            )
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return sorted(found, key=lambda e: e.timestamp_ms)
        kwargs["nextToken"] = token


def _settled_reports(target: Target, since_ms: int) -> tuple[list[Report], int]:
    """The REPORT lines since ``since_ms``, once those of ops' own invocations in the window
    are visible (or ``SETTLE_SECONDS`` passed); and how many of those are still missing."""
    expected = set(target.invocations_since(since_ms / 1000))
    deadline = time.monotonic() + SETTLE_SECONDS
    delay = 0.5
    while True:
        events = _events(
            target.client("logs"), target.outputs.function_log_group, since_ms, "REPORT"
        )
        reports = [
            replace(r, version=stream_version(e.stream))
            for e in events
            if (r := parse_report(e.message)) is not None
        ]
        missing = expected - {r.request_id for r in reports}
        if not missing or time.monotonic() + delay > deadline:
            return reports, len(missing)
        time.sleep(delay)
        delay = min(delay * 2, 4.0)


@overload
def logs(
    since: float = 3600.0,
    *,
    pattern: str | None = None,
    limit: int | None = None,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> tuple[LogEvent, ...]: ...


@overload
def logs(
    since: float = 3600.0,
    *,
    pattern: str | None = None,
    limit: int | None = None,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


@user_facing
def logs(
    since: float = 3600.0,
    *,
    pattern: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> tuple[LogEvent, ...] | Plan:
    """The function's log events of the last ``since`` seconds (optionally filtered), oldest
    first; with ``limit``, only the newest ``limit`` of them."""
    validate.number("since", since, low=1, high=MAX_SINCE_SECONDS)
    if limit is not None:
        validate.integer("limit", limit, low=1, high=MAX_LOG_LIMIT)
    if pattern is not None:
        validate.text("pattern", pattern)
    target = target_for(settings)
    if dry_run:
        return Plan(
            "logs",
            target.settings.target,
            (f"read the function's log events of the last {since:.0f} s",),
        )
    since_ms = int((time.time() - since) * 1000)
    if target.invocations_since(since_ms / 1000):  # calls made here: their lines in first
        _settled_reports(target, since_ms)
    found = _events(target.client("logs"), target.outputs.function_log_group, since_ms, pattern)
    return tuple(found[-limit:] if limit else found)


@user_facing
def follow_logs(
    on_event: Callable[[LogEvent], None],
    *,
    pattern: str | None = None,
    poll_seconds: float = 2.0,
    settings: Settings | None = None,
) -> None:
    """Pass each new log event of the function to ``on_event`` as it arrives (``aws logs tail
    --follow``), from now until the caller stops it (Ctrl-C: ``KeyboardInterrupt``)."""
    if pattern is not None:
        validate.text("pattern", pattern)
    target = target_for(settings)
    since_ms = int(time.time() * 1000)
    seen: set[tuple[int, str, str]] = set()
    while True:
        group = target.outputs.function_log_group
        for event in _events(target.client("logs"), group, since_ms, pattern):
            if (event.timestamp_ms, event.stream, event.message) not in seen:
                seen.add((event.timestamp_ms, event.stream, event.message))
                on_event(event)
                since_ms = max(since_ms, event.timestamp_ms)
        seen = {key for key in seen if key[0] >= since_ms}  # only the newest millisecond's
        time.sleep(poll_seconds)


@overload
def metrics(
    since: float = 3600.0, *, dry_run: Literal[False] = False, settings: Settings | None = None
) -> Metrics: ...


@overload
def metrics(
    since: float = 3600.0, *, dry_run: Literal[True], settings: Settings | None = None
) -> Plan: ...


@user_facing
def metrics(
    since: float = 3600.0,
    *,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> Metrics | Plan:
    """REPORT figures of the last ``since`` seconds: cold starts, init/billed duration, p50/p99."""
    validate.number("since", since, low=1, high=MAX_SINCE_SECONDS)
    target = target_for(settings)
    if dry_run:
        return Plan(
            "metrics", target.settings.target, (f"read REPORT lines of the last {since:.0f} s",)
        )
    since_ms = int((time.time() - since) * 1000)
    reports, missing = _settled_reports(target, since_ms)
    batch = _batch_requests(target, since_ms)
    kinds = [replace(r, kind="batch" if r.request_id in batch else "realtime") for r in reports]
    return replace(summarize_reports(kinds), missing_reports=missing)


def _batch_requests(target: Target, since_ms: int) -> set[str]:
    """The request ids of the batch slices in the window (the function logs a line for each,
    with its request id)."""
    found: set[str] = set()
    phrase = f'"{contract.BATCH_SLICE_LOG_MESSAGE}"'  # a quoted term: only those lines are read
    for event in _events(
        target.client("logs"), target.outputs.function_log_group, since_ms, phrase
    ):
        try:
            line = json.loads(event.message)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("message") == contract.BATCH_SLICE_LOG_MESSAGE:
            found.add(str(line.get("function_request_id", "")))
    return found


@overload
def drift(
    since: float = 3600.0,
    *,
    version: str | None = None,
    batch: str | Any = None,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> DriftReport: ...


@overload
def drift(
    since: float = 3600.0,
    *,
    version: str | None = None,
    batch: str | Any = None,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


@user_facing
def drift(
    since: float = 3600.0,
    *,
    version: str | None = None,
    batch: str | Any = None,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> DriftReport | Plan:
    """Per feature, how inputs compare with the model's training profile: values out of range,
    unseen categories, nulls, and which features drifted. Of the rows the live function version
    (or ``version``) answered in the last ``since`` seconds; or, with ``batch`` (a run id or a
    ``BatchResult``), of that whole batch, with each feature's population stability index
    against the profile's bins. ``.table()`` for a DataFrame."""
    validate.number("since", since, low=60, high=MAX_SINCE_SECONDS)
    if version is not None and not (isinstance(version, str) and version.isdigit()):
        raise ConfigurationError(
            f"version={version!r} is not a function version; give its number (e.g. '3'), as "
            "`python -m ops status` shows it, or leave it out for the live one"
        )
    run_id = _run_id(batch)
    target = target_for(settings)
    if dry_run:
        what = f"batch {run_id}'s histograms" if run_id else f"counts of the last {since:.0f} s"
        return Plan(
            "drift",
            target.settings.target,
            ("read the model's signed feature profile", f"read the function's drift {what}"),
        )
    if run_id:
        return read_batch(target, run_id)
    return read_window(target, since, version)


def _run_id(batch: Any) -> str:
    """A batch's run id, from itself or a ``BatchResult``; "" for none."""
    if batch is None:
        return ""
    run_id = str(getattr(batch, "run_id", batch))
    if not contract.RUN_ID.fullmatch(run_id):
        raise ConfigurationError(
            f"batch={run_id[:40]!r} is not a batch run id (like 20261205T120000-1a2b3c4d); "
            "give the BatchResult of ops.run_batch or its run_id"
        )
    return run_id
