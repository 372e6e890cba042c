"""The realtime latency alarm's threshold, from what the stage measured.

A share of the timeout says nothing about a model that answers in 30 ms: at 80% of a 30 s timeout
its alarm fired at 24,000 ms, after every client had given up. The function counts each realtime
request's own time (``contract.REALTIME_LATENCY_METRIC``; batch slices are not among them), and a
deploy of a stage that has served realtime calls sets the alarm at ``FACTOR`` times their p99
over the last ``WINDOW_DAYS``, at least ``MARGIN_MS`` above it, never above ``TIMEOUT_SHARE`` of
the timeout. With fewer than ``MIN_CALLS`` calls to go on (a new stage), the alarm stays at that
share of the timeout until a later deploy measures. ``latency_alarm_ms`` in the deploy's
context sets it by hand. CloudWatch keeps 1-minute data 15 days, and GetMetricData's period
must be a multiple of 60 s: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from ops.errors import OpsError
from ops.targets import Target
from reintento_function import contract

WINDOW_DAYS = 14
MIN_CALLS = 100
FACTOR = 3.0
MARGIN_MS = 100.0
TIMEOUT_SHARE = 0.8


@dataclass(frozen=True)
class LatencyThreshold:
    """The alarm's threshold in ms and where it came from (shown by the deploy)."""

    ms: float
    origin: str
    # from the stage's calls (or given): the stacks get it; else they keep 80% of the timeout
    measured: bool = False


def derive(p99_ms: float | None, calls: int, timeout_seconds: int) -> LatencyThreshold:
    """The threshold for a measured realtime p99 over ``calls`` requests (pure)."""
    cap = timeout_seconds * 1000 * TIMEOUT_SHARE
    if p99_ms is None or calls < MIN_CALLS:
        return LatencyThreshold(
            round(cap, 1),
            f"{TIMEOUT_SHARE:.0%} of the {timeout_seconds} s timeout: {calls:,} realtime calls "
            f"measured in {WINDOW_DAYS} days, fewer than the {MIN_CALLS} a threshold is taken "
            "from (deploy again once the stage has served them)",
        )
    wanted = max(FACTOR * p99_ms, p99_ms + MARGIN_MS)
    if wanted >= cap:
        return LatencyThreshold(
            round(cap, 1),
            f"{TIMEOUT_SHARE:.0%} of the {timeout_seconds} s timeout (the realtime p99 of "
            f"{p99_ms:,.0f} ms over {calls:,} calls leaves no room under it)",
            True,
        )
    return LatencyThreshold(
        round(wanted, 1),
        f"measured: {FACTOR:g}x the realtime p99 of {p99_ms:,.1f} ms over {calls:,} calls in "
        f"{WINDOW_DAYS} days (at least {MARGIN_MS:g} ms above it)",
        True,
    )


def measured(target: Target, now: datetime | None = None) -> tuple[float | None, int]:
    """The deployed function's realtime p99 (ms) and call count over the window; (None, 0) when
    nothing is deployed or nothing can be read."""
    try:
        name = target.outputs.function_name
        config = target.client("lambda").get_function_configuration(FunctionName=name)
    except (OpsError, ClientError):
        return None, 0
    env = (config.get("Environment") or {}).get("Variables") or {}
    (function_dimension,) = contract.ALARM_DIMENSIONS
    metric = {
        "Namespace": str(env.get("POWERTOOLS_METRICS_NAMESPACE", "")),
        "MetricName": contract.REALTIME_LATENCY_METRIC,
        "Dimensions": [
            {"Name": function_dimension, "Value": name},
            {"Name": "service", "Value": str(env.get("POWERTOOLS_SERVICE_NAME", ""))},
        ],
    }
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    period = WINDOW_DAYS * 86400
    queries = [
        {"Id": q, "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}}
        for q, stat in (("p", "p99"), ("n", "SampleCount"))
    ]
    try:
        answer = target.client("cloudwatch").get_metric_data(
            MetricDataQueries=queries, StartTime=end - timedelta(seconds=period), EndTime=end
        )
    except ClientError:
        return None, 0
    values = {r["Id"]: list(r.get("Values") or []) for r in answer["MetricDataResults"]}
    calls = int(sum(values.get("n") or []))
    p99 = values.get("p") or []
    return (float(max(p99)) if p99 else None), calls
