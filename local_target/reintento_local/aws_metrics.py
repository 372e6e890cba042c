"""The metrics AWS publishes for what the local target actually ran, and the function's own.

Recorded into the local CloudWatch (moto's backend) as the services would, so alarms and
``ops.metrics()`` see them:

- ``AWS/Lambda`` ``Invocations``, ``Errors``, ``Throttles``, ``Duration`` by ``FunctionName``,
  by ``FunctionName`` + ``Resource`` (the version or alias asked for) and, for calls through an
  alias, by ``FunctionName`` + ``Resource`` + ``ExecutedVersion`` (the version it ran);
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
- ``AWS/States`` ``ExecutionsStarted``, ``ExecutionsSucceeded``, ``ExecutionsFailed``,
  ``ExecutionsTimedOut``, ``ExecutionsAborted`` by ``StateMachineArn``;
  https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html
- the function's embedded-metric-format log lines (Powertools ``Metrics``), as CloudWatch Logs
  extracts them.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

They arrive late, as on AWS: "Lambda sends metric data to CloudWatch in 1-minute intervals"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html), so a call's datapoints
are queryable only a minute or so after it, stamped with the time of the call. Locally a
datapoint is visible (GetMetricData, GetMetricStatistics, ListMetrics, alarms)
``REINTENTO_METRICS_DELAY_SECONDS`` after it was recorded (default 60; the integration tests
and ``make run`` compress it to 2, a test may set it with a ``late_metrics`` rule,
``reintento_local.faults``); moto showed it at once, so a reader that judged right after the
calls looked right locally and judged without the last minute on AWS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reintento_local.cadence import seconds_from_env

DELAY_VARIABLE = "REINTENTO_METRICS_DELAY_SECONDS"
DEFAULT_DELAY_SECONDS = 60.0
ARRIVES = "reintento_arrives"  # a datum's attribute: the time (epoch seconds) it is visible
LAMBDA = "AWS/Lambda"
STATES = "AWS/States"
_STATUS_METRIC = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}


def configured_delay() -> float:
    """The server's delay (its environment's ``REINTENTO_METRICS_DELAY_SECONDS``)."""
    return seconds_from_env(DELAY_VARIABLE, DEFAULT_DELAY_SECONDS)


def delay_seconds(state_dir: Path | None) -> float:
    """How long after it is recorded a datapoint becomes visible: a test's ``late_metrics``
    rule, else the server's delay."""
    from reintento_local import faults

    late = faults.late_metrics(state_dir)
    return late if late is not None else configured_delay()


def arrived(datum: Any, now: float) -> bool:
    """Whether ``datum`` is visible at ``now`` (datapoints put by a caller arrive at once)."""
    return float(getattr(datum, ARRIVES, 0.0)) <= now


def record(
    account: str,
    region: str,
    namespace: str,
    name: str,
    value: float,
    unit: str,
    dimensions: Mapping[str, str],
    delay: float = 0.0,
) -> None:
    """One datapoint stamped now, visible ``delay`` seconds later. Never raises: a metric must
    not turn an answer into a failure."""
    try:
        from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

        dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        datum = MetricDatum(namespace, name, float(value), dims, None, unit)
        setattr(datum, ARRIVES, time.time() + delay)
        cloudwatch_backends[account][region].metric_data.append(datum)
    except Exception:  # pragma: no cover - recording is best effort, like the logs
        return


def _state_dir() -> Path | None:
    from reintento_local.lambda_runtime import configured_state_dir

    return configured_state_dir()


def _function_dimensions(fn: Any) -> list[dict[str, str]]:
    """The dimension sets Lambda publishes an invocation's metrics under: ``FunctionName``;
    with ``Resource`` (``name:qualifier``) when a version or an alias was asked for; and, for a
    call through an alias only, ``ExecutedVersion`` (the version the alias ran) with the alias as
    ``Resource``. https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"""
    from reintento_local.alias_routing import invoked_through

    name = str(fn.function_name)
    qualifier, alias = invoked_through()
    dims = [{"FunctionName": name}]
    if qualifier and qualifier.upper() != "$LATEST":
        dims.append({"FunctionName": name, "Resource": f"{name}:{qualifier}"})
    if alias:
        resource = f"{name}:{alias}"
        dims.append(
            {"FunctionName": name, "Resource": resource, "ExecutedVersion": str(fn.version)}
        )
    return dims


def lambda_invocation(fn: Any, errored: bool, duration_ms: float, log_lines: Iterable[str]) -> None:
    """What Lambda publishes for one invocation, and the EMF metrics of its log lines."""
    late = delay_seconds(_state_dir())
    where = (fn.account_id, fn.region)
    for dims in _function_dimensions(fn):
        record(*where, LAMBDA, "Invocations", 1, "Count", dims, late)
        record(*where, LAMBDA, "Errors", 1 if errored else 0, "Count", dims, late)
        record(*where, LAMBDA, "Duration", duration_ms, "Milliseconds", dims, late)
    for line in log_lines:
        for namespace, name, value, unit, dims in emf_metrics(line):
            record(*where, namespace, name, value, unit, dims, late)


def lambda_throttle(fn: Any) -> None:
    late = delay_seconds(_state_dir())
    for dims in _function_dimensions(fn):
        record(fn.account_id, fn.region, LAMBDA, "Throttles", 1, "Count", dims, late)


def emf_metrics(line: str) -> list[tuple[str, str, float, str, dict[str, str]]]:
    """The metrics one embedded-metric-format log line declares (none for other lines)."""
    text = line[line.find("{") :] if "{" in line else ""
    if '"_aws"' not in text:
        return []
    try:
        document = json.loads(text)
        directives = document["_aws"]["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError):
        return []
    out: list[tuple[str, str, float, str, dict[str, str]]] = []
    for directive in directives if isinstance(directives, list) else []:
        namespace = str(directive.get("Namespace", ""))
        for dimension_set in directive.get("Dimensions") or [[]]:
            dims = {str(d): str(document.get(d, "")) for d in dimension_set}
            for metric in directive.get("Metrics") or []:
                name = str(metric.get("Name", ""))
                raw = document.get(name)
                values = raw if isinstance(raw, list) else [raw]
                for value in values:
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        out.append(
                            (namespace, name, float(value), metric.get("Unit", "None"), dims)
                        )
    return out


def install_states() -> None:
    """Step Functions' execution metrics, from moto's executions as they start and end."""
    from moto.stepfunctions.parser.backend import execution as ex

    original_start: Any = ex.Execution.start
    original_reflect: Any = ex.BaseExecutionWorkerCommunication._reflect_execution_status

    def _arn(execution: Any) -> str:
        return str(getattr(execution, "state_machine_arn", "") or execution.state_machine.arn)

    def _where(arn: str) -> tuple[str, str]:
        parts = arn.split(":")
        return parts[4], parts[3]

    def start(self: Any) -> None:
        original_start(self)
        arn = _arn(self)
        account, region = _where(arn)
        late = delay_seconds(_state_dir())
        dims = {"StateMachineArn": arn}
        record(account, region, STATES, "ExecutionsStarted", 1, "Count", dims, late)

    def reflect(self: Any) -> None:
        original_reflect(self)
        arn = _arn(self.execution)
        status = str(getattr(self.execution.exec_status, "value", self.execution.exec_status))
        name = _STATUS_METRIC.get(status)
        if name:
            account, region = _where(arn)
            late = delay_seconds(_state_dir())
            record(account, region, STATES, name, 1, "Count", {"StateMachineArn": arn}, late)

    setattr(ex.Execution, "start", start)  # noqa: B010
    setattr(ex.BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect)  # noqa: B010


def install_percentiles() -> None:
    """GetMetricData answers percentile statistics (``p99``, ``p50``, ``p99.9``), as CloudWatch
    does for any extended statistic; moto answered None for them.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html
    """
    from moto.cloudwatch.models import MetricDatum, Statistics

    from reintento_local import alarm_rules

    original: Any = Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        if not (stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit()):
            return original(self, stat)
        values = [float(m.value) for m in self.metric_data or [] if isinstance(m, MetricDatum)]
        return alarm_rules.statistic(values, stat)

    setattr(Statistics, "get_statistics_for_type", get_statistics_for_type)  # noqa: B010


def install_late_arrival() -> None:
    """Datapoints are queryable only once they arrived (``ARRIVES``): GetMetricData,
    GetMetricStatistics and ListMetrics read moto's ``get_all_metrics``; the alarms read
    ``arrived`` themselves (``cloudwatch_alarms.Datapoints``)."""
    from moto.cloudwatch.models import CloudWatchBackend

    original: Any = CloudWatchBackend.get_all_metrics

    def get_all_metrics(self: Any) -> Any:
        now = time.time()
        return [m for m in original(self) if arrived(m, now)]

    setattr(CloudWatchBackend, "get_all_metrics", get_all_metrics)  # noqa: B010
