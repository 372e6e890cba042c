"""Each named fidelity fix to moto, observed through the deployed stack over HTTP."""

from __future__ import annotations

import json

from ops.local import patches
from tests.integration.conftest import Deployed

EXPECTED = [
    "s3-bucket-properties",
    "s3-bucket-policy-resource",
    "s3-secure-transport",
    "lambda-cfn-properties",
    "stepfunctions-executable",
    "cloudwatch-alarm-resource",
    "changeset-stacks",
]


def test_the_list_of_fixes_is_short_and_named() -> None:
    assert [p.name for p in patches.PATCHES] == EXPECTED
    assert all(p.fixes for p in patches.PATCHES)


def test_s3_bucket_properties(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    bucket = deployed.outputs.model_bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_s3_bucket_policy_resource_and_secure_transport(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    bucket = deployed.outputs.model_bucket
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # the TLS-only policy does not refuse the loopback endpoint (treated as TLS)
    assert s3.head_object(Bucket=bucket, Key=deployed.outputs.model_key)["ContentLength"] > 0


def test_lambda_cfn_properties(deployed: Deployed) -> None:
    config = deployed.client("lambda").get_function_configuration(
        FunctionName=deployed.outputs.function_name
    )
    assert config["PackageType"] == "Image"
    assert config["LoggingConfig"]["LogGroup"] == deployed.outputs.function_log_group
    assert config["Environment"]["Variables"]["MODEL_BUCKET"] == deployed.outputs.model_bucket


def test_stepfunctions_executable(deployed: Deployed) -> None:
    sfn = deployed.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=deployed.outputs.state_machine_arn)
    assert described["loggingConfiguration"]["level"] == "ALL"
    assert described["tracingConfiguration"]["enabled"] is True
    empty = json.dumps({"items": [], "run_id": "x", "output_prefix": "batch/x/output/"})
    first = sfn.start_execution(stateMachineArn=deployed.outputs.state_machine_arn, input=empty)
    second = sfn.start_execution(stateMachineArn=deployed.outputs.state_machine_arn, input=empty)
    assert first["executionArn"] != second["executionArn"]


def test_cloudwatch_alarm_resource(deployed: Deployed) -> None:
    alarms = deployed.client("cloudwatch").describe_alarms(
        AlarmNamePrefix=deployed.settings.service_stack_name
    )
    metrics = sorted(a["MetricName"] for a in alarms["MetricAlarms"])
    assert metrics == ["Duration", "Errors", "ExecutionsFailed", "Throttles"]


def test_changeset_stacks_have_outputs_and_exports(deployed: Deployed) -> None:
    cf = deployed.client("cloudformation")
    exports = {e["Name"]: e["Value"] for e in cf.list_exports()["Exports"]}
    assert deployed.outputs.model_bucket in exports.values()
    outputs = cf.describe_stacks(StackName=deployed.settings.service_stack_name)["Stacks"][0][
        "Outputs"
    ]
    assert {o["OutputKey"] for o in outputs} >= {
        "FunctionName",
        "StateMachineArn",
        "BatchBucketName",
    }
