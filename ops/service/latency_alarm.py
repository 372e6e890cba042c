"""The realtime latency alarm's threshold, from what the stage measured.

A share of the timeout says nothing about a model that answers in 30 ms: at 80% of a 30 s timeout
its alarm fired at 24,000 ms, after every client had given up. The function counts each realtime
request's own time (``contract.REALTIME_LATENCY_METRIC``; batch slices are not among them), and a
deploy of a stage that has served realtime calls sets the alarm at ``FACTOR`` times their p99
over the last ``WINDOW_DAYS``, at least ``MARGIN_MS`` above it, never above ``TIMEOUT_SHARE`` of
the timeout. A threshold already deployed is kept while the new one is within ``STEADY`` of it (a
redeploy with nothing else to change changes nothing), and when the latency cannot be measured
(fewer than ``MIN_CALLS`` calls, or the metric could not be read: said, never silently
loosened). A new stage starts at that share of the timeout until a later deploy measures.
``latency_alarm_ms`` in the deploy's context sets it by hand. CloudWatch keeps 1-minute data 15
days, and GetMetricData's period must be a multiple of 60 s:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
"""

from __future__ import annotations

import math
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
TIMEOUT_SHARE = contract.LATENCY_ALARM_TIMEOUT_SHARE  # the stacks' default: "current != cap"
STEADY = 0.25


@dataclass(frozen=True)
class LatencyThreshold:
    """The alarm's threshold in ms and where it came from (shown by the deploy)."""

    ms: float
    origin: str
    # from the stage's calls (or given, or kept): the stacks get it; else 80% of the timeout
    measured: bool = False


@dataclass(frozen=True)
class Measured:
    """What the stage's realtime latency metric showed over the window."""

    p99_ms: float | None = None
    calls: int = 0
    error: str = ""  # why it could not be read (empty: it was)


def derive(measured: Measured, timeout_seconds: int, current: float | None) -> LatencyThreshold:
    """The threshold for what was measured, given the one deployed (``current``; pure)."""
    cap = round(timeout_seconds * 1000 * TIMEOUT_SHARE, 1)
    if measured.error or measured.p99_ms is None or measured.calls < MIN_CALLS:
        why = (
            f"the stage's realtime latency could not be read: {measured.error}"
            if measured.error
            else f"{measured.calls:,} realtime calls in {WINDOW_DAYS} days, fewer than the "
            f"{MIN_CALLS} a threshold is taken from"
        )
        if current is not None and current != cap:
            return LatencyThreshold(current, f"kept ({why})", True)
        return LatencyThreshold(
            cap,
            f"{TIMEOUT_SHARE:.0%} of the {timeout_seconds} s timeout ({why}; deploy again once "
            "the stage has served them)",
        )
    p99 = measured.p99_ms
    wanted = math.ceil(max(FACTOR * p99, p99 + MARGIN_MS) / 10) * 10.0  # up, in 10 ms steps
    said = (
        f"{FACTOR:g}x the realtime p99 of {p99:,.1f} ms over {measured.calls:,} calls in "
        f"{WINDOW_DAYS} days"
    )
    new = (
        LatencyThreshold(wanted, f"measured: {said}, at least {MARGIN_MS:g} ms above it", True)
        if wanted < cap
        else LatencyThreshold(cap, f"{TIMEOUT_SHARE:.0%} of the timeout: {said} is over it", True)
    )
    if current is not None and abs(new.ms - current) <= STEADY * current:
        return LatencyThreshold(current, f"kept: within {STEADY:.0%} of {new.origin}", True)
    return new


def deployed_threshold(target: Target) -> float | None:
    """The deployed latency alarm's threshold (None: no such alarm, or it cannot be read)."""
    try:
        pages = (
            target.client("cloudwatch")
            .get_paginator("describe_alarms")
            .paginate(AlarmNamePrefix=target.settings.service_stack_name)
        )
        for page in pages:
            for alarm in page.get("MetricAlarms", []):
                if alarm.get("MetricName") == contract.REALTIME_LATENCY_METRIC:
                    return float(alarm["Threshold"])
    except ClientError:
        return None
    return None


def measured(target: Target, now: datetime | None = None) -> Measured:
    """The deployed function's realtime p99 (ms) and call count over the window."""
    try:
        name = target.outputs.function_name
        config = target.client("lambda").get_function_configuration(FunctionName=name)
    except OpsError:
        return Measured()  # nothing deployed
    except ClientError as err:
        return Measured(error=err.response.get("Error", {}).get("Code", str(err)))
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
    except ClientError as err:
        return Measured(error=err.response.get("Error", {}).get("Code", str(err)))
    values = {r["Id"]: list(r.get("Values") or []) for r in answer["MetricDataResults"]}
    p99 = values.get("p") or []
    return Measured(float(max(p99)) if p99 else None, int(sum(values.get("n") or [])))
