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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

LAMBDA = "AWS/Lambda"
STATES = "AWS/States"
_STATUS_METRIC = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}


def record(
    account: str,
    region: str,
    namespace: str,
    name: str,
    value: float,
    unit: str,
    dimensions: Mapping[str, str],
) -> None:
    """One datapoint, now. Never raises: a metric must not turn an answer into a failure."""
    try:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account][region].put_metric_data(
            namespace,
            [
                {
                    "MetricName": name,
                    "Value": float(value),
                    "Unit": unit,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                }
            ],
        )
    except Exception:  # pragma: no cover - recording is best effort, like the logs
        return


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
    for dims in _function_dimensions(fn):
        record(fn.account_id, fn.region, LAMBDA, "Invocations", 1, "Count", dims)
        record(fn.account_id, fn.region, LAMBDA, "Errors", 1 if errored else 0, "Count", dims)
        record(fn.account_id, fn.region, LAMBDA, "Duration", duration_ms, "Milliseconds", dims)
    for line in log_lines:
        for namespace, name, value, unit, dims in emf_metrics(line):
            record(fn.account_id, fn.region, namespace, name, value, unit, dims)


def lambda_throttle(fn: Any) -> None:
    for dims in _function_dimensions(fn):
        record(fn.account_id, fn.region, LAMBDA, "Throttles", 1, "Count", dims)


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
        record(account, region, STATES, "ExecutionsStarted", 1, "Count", {"StateMachineArn": arn})

    def reflect(self: Any) -> None:
        original_reflect(self)
        arn = _arn(self.execution)
        status = str(getattr(self.execution.exec_status, "value", self.execution.exec_status))
        name = _STATUS_METRIC.get(status)
        if name:
            account, region = _where(arn)
            record(account, region, STATES, name, 1, "Count", {"StateMachineArn": arn})

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
