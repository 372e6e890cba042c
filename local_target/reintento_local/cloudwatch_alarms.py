"""CloudWatch metric alarms evaluate on the local target, and notify through SNS topic policies.

Stock moto stores alarms but never evaluates them (every alarm says ``OK`` forever), has no
alarm history and no notion of who may publish to a topic. Here:

- a new alarm starts in ``INSUFFICIENT_DATA`` (as on AWS) and is evaluated every
  ``REINTENTO_ALARM_EVALUATION_SECONDS`` (60 by default: CloudWatch evaluates metric alarms
  every minute; tests set it lower — the cadence only, never the semantics: period, evaluation
  periods, datapoints to alarm, statistic, missing data and metric math follow
  ``reintento_local.alarm_rules``);
- a state change is recorded in the alarm's history (``DescribeAlarmHistory``) and runs the
  alarm's actions for that state: an SNS action publishes only if the topic's policy lets
  ``cloudwatch.amazonaws.com`` publish, with ``aws:SourceArn`` (the alarm) and
  ``aws:SourceAccount`` in the request context; otherwise the history records the failed action.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions.html
  https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from reintento_local import alarm_rules, aws_metrics
from reintento_local.cadence import seconds_from_env
from reintento_local.iam_conditions import conditions_hold, like

EVALUATION_SECONDS_ENV = "REINTENTO_ALARM_EVALUATION_SECONDS"
DEFAULT_EVALUATION_SECONDS = 60.0
CLOUDWATCH = "cloudwatch.amazonaws.com"
_lock = threading.Lock()


def evaluation_seconds() -> float:
    return seconds_from_env(EVALUATION_SECONDS_ENV, DEFAULT_EVALUATION_SECONDS, minimum=0.2)


# --------------------------------------------------------------------------- history


def _history(alarm: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] | None = getattr(alarm, "reintento_history", None)
    if items is None:
        items = []
        alarm.reintento_history = items
    return items


def _add_history(alarm: Any, kind: str, summary: str, data: dict[str, Any]) -> None:
    _history(alarm).append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": datetime.now(UTC),
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data),
        }
    )


# --------------------------------------------------------------------------- datapoints


MetricKey = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, exact dimensions


class Datapoints:
    """A backend's datapoints by metric (namespace, name, exact dimensions), read in one pass
    over moto's append-only list for all the alarms evaluated together."""

    def __init__(self, backend: Any) -> None:
        self.by_metric: dict[MetricKey, list[tuple[float, float]]] = {}
        now = time.time()
        for datum in list(backend.metric_data):
            value = getattr(datum, "value", None)
            if isinstance(value, int | float) and aws_metrics.arrived(datum, now):
                key = _key(datum.namespace, datum.name, datum.dimensions)
                self.by_metric.setdefault(key, []).append(
                    (datum.timestamp.timestamp(), float(value))
                )

    def of(self, namespace: str, name: str, dimensions: Any) -> list[tuple[float, float]]:
        return self.by_metric.get(_key(namespace, name, dimensions), [])


def _key(namespace: str, name: str, dimensions: Any) -> MetricKey:
    return namespace, name, frozenset((str(d.name), str(d.value)) for d in dimensions)


def _series(
    points: Datapoints, metric_stat: Any, starts: list[int], period: int
) -> alarm_rules.Series:
    metric = metric_stat.metric
    found = points.of(metric.namespace, metric.metric_name, metric.dimensions)
    return alarm_rules.bucket(found, period, starts, metric_stat.stat)


def _values(alarm: Any, points: Datapoints, now: float) -> list[float | None]:
    """The datapoints the alarm is decided on (``alarm_rules.evaluation_values``)."""
    periods = int(alarm.evaluation_periods)
    over_range = _range_values(alarm, points, now, periods + alarm_rules.RANGE_EXTRA_PERIODS)
    return alarm_rules.evaluation_values(over_range, periods)


def _range_values(alarm: Any, points: Datapoints, now: float, count: int) -> list[float | None]:
    """One datapoint (or None) for each of the last ``count`` periods, oldest first."""
    queries = list(alarm.metric_data_queries or [])
    if not queries:
        period = int(alarm.period)
        starts = alarm_rules.period_starts(now, period, count)
        found = points.of(alarm.namespace, alarm.metric_name, alarm.dimensions)
        stat = alarm.statistic or alarm.extended_statistic
        series = alarm_rules.bucket(found, period, starts, stat)
        return [series.get(s) for s in starts]
    periods = [int(q.metric_stat.period) for q in queries if q.metric_stat is not None]
    period = int(periods[0]) if periods else int(alarm.period or 60)
    starts = alarm_rules.period_starts(now, period, count)
    known: dict[str, alarm_rules.Series] = {}
    for q in queries:
        if q.metric_stat is not None:
            known[q.id] = _series(points, q.metric_stat, starts, period)
    for q in queries:
        if q.expression:
            known[q.id] = alarm_rules.evaluate_expression(q.expression, known, starts)
    returned = [q for q in queries if str(q.return_data).lower() == "true"]
    if len(returned) != 1:
        raise alarm_rules.UnsupportedExpressionError(
            "an alarm needs exactly one query returning data"
        )
    series = known[returned[0].id]
    return [series.get(s) for s in starts]


# --------------------------------------------------------------------------- evaluation


def evaluate(alarm: Any, points: Datapoints, account: str, region: str, now: float) -> None:
    """Evaluate one metric alarm now; on a state change, record it and run its actions."""
    if alarm.comparison_operator not in alarm_rules.COMPARISONS:
        return  # anomaly-detection comparisons are not evaluated locally (README)
    try:
        values = _values(alarm, points, now)
    except alarm_rules.UnsupportedExpressionError as err:
        reason = f"not evaluated locally: {err}"
        if alarm.state_reason != reason:
            alarm.state_reason = reason
        return
    decision = alarm_rules.decide(
        values,
        comparison=alarm.comparison_operator,
        threshold=float(alarm.threshold),
        datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
        treat_missing=alarm.treat_missing_data,
        current=alarm.state_value,
    )
    if decision.state == alarm.state_value:
        return
    old = alarm.state_value
    data = {
        "version": "1.0",
        "oldState": {"stateValue": old, "stateReason": alarm.state_reason},
        "newState": {"stateValue": decision.state, "stateReason": decision.reason},
    }
    alarm.update_state(decision.reason, json.dumps({"recentDatapoints": values}), decision.state)
    _add_history(alarm, "StateUpdate", f"Alarm updated from {old} to {decision.state}", data)
    if not alarm.actions_enabled:
        return
    actions = {
        "ALARM": alarm.alarm_actions,
        "OK": alarm.ok_actions,
        "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
    }[decision.state]
    for action in actions or []:
        _run_action(alarm, str(action), account, region, old, decision)


def evaluate_all(now: float | None = None) -> None:
    """Evaluate every metric alarm of every account and region the local target holds."""
    from moto.cloudwatch.models import cloudwatch_backends

    moment = time.time() if now is None else now
    with _lock:
        for account, regions in list(cloudwatch_backends.items()):
            for region, backend in list(regions.items()):
                points: Datapoints | None = None  # read once, if any alarm here is due
                for alarm in list(backend.alarms.values()):
                    due = getattr(alarm, "reintento_next_evaluation", 0.0)
                    if getattr(alarm, "rule", None) is not None or (now is None and moment < due):
                        continue
                    setattr(alarm, "reintento_next_evaluation", moment + evaluation_seconds())  # noqa: B010
                    try:
                        points = points or Datapoints(backend)
                        evaluate(alarm, points, account, region, moment)
                    except Exception as err:  # one bad alarm must not stop the others
                        alarm.state_reason = f"not evaluated locally: {type(err).__name__}: {err}"


def _loop(stop: threading.Event) -> None:
    # each alarm is evaluated every evaluation_seconds() from its creation (a fresh alarm stays
    # INSUFFICIENT_DATA for that long, as on AWS); the loop looks for due alarms often
    while not stop.wait(min(1.0, evaluation_seconds())):
        try:
            evaluate_all()
        except Exception:  # pragma: no cover - the evaluator must outlive one bad alarm
            continue


def start_evaluator() -> threading.Event:
    """Run the evaluation loop in the server; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=_loop, args=(stop,), daemon=True, name="alarm-evaluator").start()
    return stop


# --------------------------------------------------------------------------- actions


def _principal_matches(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for kind, value in principal.items():
        values = value if isinstance(value, list) else [value]
        if kind == "AWS" and "*" in values:
            return True
        if kind == "Service" and CLOUDWATCH in values:
            return True
    return False


def _like(patterns: Any, value: str, *, case: bool = True) -> bool:
    items = patterns if isinstance(patterns, list) else [patterns]
    return any(like(str(p), value) if case else like(str(p).lower(), value.lower()) for p in items)


def topic_allows_cloudwatch(policy: dict[str, Any], topic_arn: str, alarm_arn: str) -> bool:
    """Whether a topic policy lets CloudWatch publish this alarm's notice (Deny wins)."""
    account = alarm_arn.split(":")[4]
    context = {
        "aws:SourceArn": alarm_arn,
        "aws:SourceAccount": account,
        "AWS:SourceOwner": account,
        "aws:SecureTransport": "true",
    }
    statements = policy.get("Statement", [])
    allowed = False
    for s in statements if isinstance(statements, list) else [statements]:
        if not _principal_matches(s.get("Principal")):
            continue
        if not _like(s.get("Action", []), "sns:Publish", case=False):
            continue
        if "Resource" in s and not _like(s["Resource"], topic_arn):
            continue
        held = conditions_hold(s.get("Condition"), context)
        if s.get("Effect") == "Deny" and held is not False:
            return False
        if s.get("Effect") == "Allow" and held is True:
            allowed = True
    return allowed


def _run_action(
    alarm: Any, action: str, account: str, region: str, old: str, decision: Any
) -> None:
    if ":sns:" not in action:
        _add_history(alarm, "Action", f"Failed to execute action {action}", {"error": "only SNS"})
        return
    from moto.sns.models import sns_backends

    backend = sns_backends[account][action.split(":")[3]]
    topic = backend.topics.get(action)
    if topic is None:
        summary = f"Failed to execute action {action}. Received error: 'Resource not found'"
        _add_history(alarm, "Action", summary, {"actionState": "Failed"})
        return
    if not topic_allows_cloudwatch(json.loads(topic.policy), action, alarm.alarm_arn):
        summary = (
            f"Failed to execute action {action}. Received error: 'CloudWatch Alarms is not "
            "authorized to perform: SNS:Publish on resource'"
        )
        _add_history(alarm, "Action", summary, {"actionState": "Failed"})
        return
    notice = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "NewStateValue": decision.state,
        "NewStateReason": decision.reason,
        "StateChangeTime": datetime.now(UTC).isoformat(),
        "Region": region,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old,
    }
    subject = f'{decision.state}: "{alarm.name}" in {region}'[:100]
    backend.publish(json.dumps(notice), arn=action, subject=subject)
    _add_history(
        alarm, "Action", f"Successfully executed action {action}", {"actionState": "Succeeded"}
    )


# --------------------------------------------------------------------------- install


def install() -> None:
    """New alarms start INSUFFICIENT_DATA with a history; DescribeAlarmHistory answers."""
    from moto.cloudwatch import models as cwm
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    original_init = cwm.Alarm.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.state_value = "INSUFFICIENT_DATA"
        self.state_reason = "Unchecked: Initial alarm creation"
        self.reintento_next_evaluation = time.time() + evaluation_seconds()
        _add_history(self, "ConfigurationUpdate", f'Alarm "{self.name}" created', {})

    def describe_alarm_history(self: Any) -> Any:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        items: list[dict[str, Any]] = []
        for alarm in self.cloudwatch_backend.alarms.values():
            if name and alarm.name != name:
                continue
            items.extend(i for i in _history(alarm) if not kind or i["HistoryItemType"] == kind)
        items.sort(key=lambda i: i["Timestamp"], reverse=True)
        return ActionResult({"AlarmHistoryItems": items})

    setattr(cwm.Alarm, "__init__", init)  # noqa: B010
    setattr(CloudWatchResponse, "describe_alarm_history", describe_alarm_history)  # noqa: B010
