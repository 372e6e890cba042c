"""AWS parity II: template properties that only a real account would have shown wrong."""

from __future__ import annotations

import json

from infra import names
from tests.infra.conftest import Synth, render


def _of_type(synth: Synth, kind: str) -> list[dict]:
    raw = synth.raw(synth.settings.service_stack_name)
    return [r for r in raw["Resources"].values() if r["Type"] == kind]


def test_cloudwatch_may_publish_alarm_notices_to_the_topic(synth: Synth) -> None:
    # without an allow for cloudwatch.amazonaws.com the e-mails are never delivered
    (policy,) = _of_type(synth, "AWS::SNS::TopicPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    (statement,) = allow
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {
        "Ref": "AWS::AccountId"
    } or isinstance(statement["Condition"]["StringEquals"]["aws:SourceAccount"], str)
    assert ":alarm:" in render(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    # and the TLS-only deny is still there
    assert any(s["Effect"] == "Deny" for s in statements)


def test_the_batch_alarm_counts_failed_timed_out_and_aborted(synth: Synth) -> None:
    alarms = _of_type(synth, "AWS::CloudWatch::Alarm")
    (batch,) = [a for a in alarms if "ExecutionsFailed" in json.dumps(a)]
    metrics = batch["Properties"]["Metrics"]
    expression = next(m["Expression"] for m in metrics if "Expression" in m)
    used = sorted(m["MetricStat"]["Metric"]["MetricName"] for m in metrics if "MetricStat" in m)
    assert used == ["ExecutionsAborted", "ExecutionsFailed", "ExecutionsTimedOut"]
    # each term FILLed with 0: Step Functions publishes a metric only when such an execution
    # happens, and metric math has no datapoint where one operand has none (the strict reading
    # the local target evaluates), so a bare sum would stay empty unless all three happened
    terms = sorted(expression.replace(" ", "").split("+"))
    assert terms == sorted(f"FILL({m['Id']},0)" for m in metrics if "MetricStat" in m)


def test_retries_include_awss_recommended_set() -> None:
    assert "Lambda.ClientExecutionTimeoutException" in names.TRANSIENT_ERRORS


def test_native_threads_follow_the_functions_memory(synth: Synth) -> None:
    (function,) = _of_type(synth, "AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]
    vcpus = str(max(1, synth.settings.memory_mb // 1769))
    assert {env[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {
        vcpus
    }


def test_state_machine_logs_go_to_a_vended_logs_group(synth: Synth) -> None:
    groups = _of_type(synth, "AWS::Logs::LogGroup")
    named = [g["Properties"].get("LogGroupName") for g in groups]
    assert any(isinstance(n, str) and n.startswith("/aws/vendedlogs/states/") for n in named), (
        json.dumps(named)
    )
