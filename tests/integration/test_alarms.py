"""Alarms evaluate on the local target, and their notices go through the topic's policy.

The integration target evaluates alarms every second (REINTENTO_ALARM_EVALUATION_SECONDS=1 in
conftest.py: the cadence only; periods, statistics and missing-data rules are CloudWatch's).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

import ops
from infra import names
from ops.modelfiles.demo_model import DemoModel
from ops.targets import target_for
from reintento_local import faults
from tests.integration.conftest import Deployed, until

ROWS = ops.sample_rows(2, seed=5)


def _until(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    return until(check, seconds)


@pytest.fixture(scope="module")
def alarmed(local_settings: ops.Settings, demo_model: DemoModel) -> ops.Settings:
    """GIVEN a stage deployed with alarm e-mails: its alarms notify an SNS topic."""
    s = ops.Settings.resolve(
        local_settings, stage="alarms", context={"alarm_email": "oncall@example.com"}
    )
    ops.deploy(approve_security_changes=True, settings=s)
    ops.upload_model(demo_model.path, settings=s)
    return s


def _alarms(settings: ops.Settings) -> dict[str, dict[str, Any]]:
    cw = target_for(settings).client("cloudwatch")
    found = cw.describe_alarms(AlarmNamePrefix=settings.service_stack_name)["MetricAlarms"]
    return {a["AlarmName"]: a for a in found}


def _queue_on(settings: ops.Settings, topic: str, name: str) -> tuple[Any, str]:
    target = target_for(settings)
    sqs, sns = target.client("sqs"), target.client("sns")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return sqs, url


def _notices(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def test_a_fresh_stack_s_alarms_go_from_insufficient_data_to_ok(alarmed: ops.Settings) -> None:
    # WHEN its status is read (which asks the function which model it serves)
    assert ops.status(settings=alarmed).service_stack == "CREATE_COMPLETE"
    # THEN with no failures every alarm settles in OK, after starting INSUFFICIENT_DATA
    alarms = _until(
        lambda: (a := _alarms(alarmed)) and all(x["StateValue"] == "OK" for x in a.values()) and a
    )
    assert alarms and len(alarms) == 7, _alarms(alarmed)
    cw = target_for(alarmed).client("cloudwatch")
    for name in alarms:
        history = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
        summaries = [h["HistorySummary"] for h in history]
        assert "Alarm updated from INSUFFICIENT_DATA to OK" in summaries, summaries


def test_function_errors_fire_the_alarm_and_its_notice_arrives(alarmed: ops.Settings) -> None:
    topic = target_for(alarmed).outputs.alarm_topic
    assert topic
    sqs, url = _queue_on(alarmed, topic, "oncall-notices")
    # WHEN the function fails (a platform crash: a function error, counted in Errors), early
    # enough in a minute for an evaluation to see it in the period in progress (on a loaded
    # machine an evaluation pass can take seconds: an error in a minute's last second could be
    # judged only after its period ended)
    while time.time() % 60 > 40:
        time.sleep(0.5)
    faults.inject(alarmed.state_dir, [{"function": "alarms", "kind": "crash", "count": 1}])
    with pytest.raises(ops.FunctionError):
        ops.predict(ROWS, settings=alarmed)
    # THEN the errors alarm goes to ALARM, and its notice is published to the topic
    errors = _until(
        lambda: next(
            (
                a
                for n, a in _alarms(alarmed).items()
                if "FunctionErrors" in n and a["StateValue"] == "ALARM"
            ),
            None,
        )
    )
    assert errors is not None, _alarms(alarmed)
    notices = _until(lambda: _notices(sqs, url))
    assert notices and notices[0]["AlarmName"] == errors["AlarmName"]
    assert notices[0]["NewStateValue"] == "ALARM"
    history = (
        target_for(alarmed)
        .client("cloudwatch")
        .describe_alarm_history(AlarmName=errors["AlarmName"], HistoryItemType="Action")[
            "AlarmHistoryItems"
        ]
    )
    assert history and history[0]["HistorySummary"].startswith("Successfully executed action")
    # AND the other alarms stay OK (an answered bad input is not an error)
    with pytest.raises(ops.InvalidInputError):
        ops.predict([{"latencia_ms": "x"}], settings=alarmed)
    others = {n: a["StateValue"] for n, a in _alarms(alarmed).items() if n != errors["AlarmName"]}
    assert set(others.values()) == {"OK"}, others


def test_aws_metrics_are_recorded_for_what_ran(alarmed: ops.Settings) -> None:
    target = target_for(alarmed)
    out = target.outputs
    ops.predict(ROWS, settings=alarmed)
    ops.run_batch(ROWS, progress=False, settings=alarmed)
    cw = target.client("cloudwatch")

    def total(namespace: str, name: str, dimension: dict[str, str]) -> float:
        points = cw.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimension.items()],
            StartTime=time.time() - 3600,
            EndTime=time.time() + 60,
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    function = {"FunctionName": out.function_name}
    machine = {"StateMachineArn": out.state_machine_arn}
    # (each reaches CloudWatch a while after what it counts, as Lambda's and Step Functions' do)
    assert _until(lambda: total("AWS/Lambda", "Invocations", function) >= 3)  # + slice + summary
    assert _until(lambda: total("AWS/States", "ExecutionsStarted", machine) >= 1)
    assert _until(lambda: total("AWS/States", "ExecutionsSucceeded", machine) >= 1)
    # AND the function's own EMF metrics, extracted from its log lines as CloudWatch Logs does
    own = {"service": names.SERVICE_NAME}
    assert _until(lambda: total(names.METRICS_NAMESPACE, "RowsPredicted", own) >= len(ROWS))
    assert _until(lambda: total(names.METRICS_NAMESPACE, "BatchRowsPredicted", own) >= len(ROWS))


def test_many_refused_requests_fire_the_invalid_request_alarm(alarmed: ops.Settings) -> None:
    """#36: no alarm watched invalid requests (answered, so never a function error): clients
    sending rows the live model does not take went unnoticed."""
    (invalid,) = [n for n in _alarms(alarmed) if "InvalidRequests" in n]
    assert _alarms(alarmed)[invalid]["StateValue"] == "OK"
    # WHEN 30 requests in a row are refused
    for _ in range(30):
        with pytest.raises(ops.InvalidInputError):
            ops.predict([{"latencia_ms": "x"}], settings=alarmed)
    # THEN the invalid-request alarm fires (30 of about 30 calls, over 10%)
    alarm = _until(lambda: (a := _alarms(alarmed)[invalid])["StateValue"] == "ALARM" and a)
    assert alarm, _alarms(alarmed)[invalid]
    assert "Threshold Crossed" in alarm["StateReason"]


def test_the_latency_alarm_is_set_from_the_measured_realtime_latency(
    alarmed: ops.Settings,
) -> None:
    """#36: the latency alarm fired only at 80% of the timeout (24,000 ms), and on a p99 that
    mixed batch slices with realtime calls."""
    (latency,) = [n for n in _alarms(alarmed) if "RealtimeLatency" in n]
    assert _alarms(alarmed)[latency]["Threshold"] == 24000  # nothing measured at the first deploy
    # GIVEN the stage served realtime calls (its function counts each one's time)
    for _ in range(110):
        ops.predict(ROWS, settings=alarmed)
    # WHEN it is deployed again
    deployed = _until(
        lambda: (
            (d := ops.deploy(approve_security_changes=True, settings=alarmed)).latency_alarm
            and d.latency_alarm.measured
            and d
        ),
        seconds=60,
    )
    # THEN the alarm's threshold comes from their p99, far under the timeout, and says so
    assert deployed, "the redeploy measured no realtime latency"
    threshold = deployed.latency_alarm
    assert "3x the realtime p99" in threshold.origin, threshold
    assert 100 < threshold.ms < 24000
    alarm = _alarms(alarmed)[latency]
    assert alarm["Threshold"] == threshold.ms
    assert alarm["MetricName"] == "RealtimeLatency" and alarm["ExtendedStatistic"] == "p99"
    assert f"{threshold.ms:,g} ms" in deployed.card().text()


def test_an_alarm_notice_needs_the_topic_policy_to_allow_cloudwatch(deployed: Deployed) -> None:
    # GIVEN two topics: one whose policy only denies plain HTTP (as a topic policy that replaced
    # the default one), one with the default policy (the account's own services may publish)
    sns, cw = deployed.client("sns"), deployed.client("cloudwatch")
    deny_only = sns.create_topic(Name="deny-only")["TopicArn"]
    default = sns.create_topic(Name="default-policy")["TopicArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": deny_only,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    sns.set_topic_attributes(
        TopicArn=deny_only, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    queues = {
        arn: _queue_on(deployed.settings, arn, name)
        for arn, name in ((deny_only, "deny-only-q"), (default, "default-q"))
    }
    for arn, name in ((deny_only, "probe-deny-only"), (default, "probe-default")):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="Probe",
            MetricName="Failures",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[arn],
        )
    # WHEN the metric breaches
    cw.put_metric_data(Namespace="Probe", MetricData=[{"MetricName": "Failures", "Value": 3}])
    # THEN both alarms fire; only the topic whose policy allows CloudWatch gets the notice, and
    # the other alarm's history records the failed action
    for name in ("probe-deny-only", "probe-default"):
        assert _until(
            lambda n=name: (
                cw.describe_alarms(AlarmNames=[n])["MetricAlarms"][0]["StateValue"] == "ALARM"
            )
        ), name
    sqs, url = queues[default]
    assert _until(lambda: _notices(sqs, url))[0]["AlarmName"] == "probe-default"
    actions = _until(
        lambda: cw.describe_alarm_history(AlarmName="probe-deny-only", HistoryItemType="Action")[
            "AlarmHistoryItems"
        ]
    )
    assert actions and actions[0]["HistorySummary"].startswith("Failed to execute action")
    sqs, url = queues[deny_only]
    assert _notices(sqs, url) == []
    # AND every alarm of the local target was evaluated (none refused by the evaluator)
    reasons = {a["AlarmName"]: a["StateReason"] for a in cw.describe_alarms()["MetricAlarms"]}
    assert not [n for n, r in reasons.items() if r.startswith("not evaluated")], reasons
