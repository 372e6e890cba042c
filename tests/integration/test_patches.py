"""Each named fidelity fix to moto, observed through the deployed stack over HTTP."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from ops.local import patches
from tests.integration.conftest import Deployed

EXPECTED = [
    "lambda-docker-less-runtime",
    "iam-role-enforcement",
    "s3-bucket-properties",
    "s3-bucket-policy-resource",
    "s3-secure-transport",
    "lambda-cfn-properties",
    "stepfunctions-executable",
    "cloudwatch-alarm-resource",
    "changeset-stacks",
    "stepfunctions-service-credentials",
    "iam-resource-wildcards",
    "kms-key-properties",
    "kms-invalid-signature",
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
    assert described["loggingConfiguration"]["level"] == "ERROR"
    assert described["tracingConfiguration"]["enabled"] is True
    empty = json.dumps(
        {"items": [], "run_id": "x", "output_prefix": "batch/x/output/", "function_version": "live"}
    )
    first = sfn.start_execution(stateMachineArn=deployed.outputs.state_machine_arn, input=empty)
    second = sfn.start_execution(stateMachineArn=deployed.outputs.state_machine_arn, input=empty)
    assert first["executionArn"] != second["executionArn"]


def test_cloudwatch_alarm_resource(deployed: Deployed) -> None:
    alarms = deployed.client("cloudwatch").describe_alarms(
        AlarmNamePrefix=deployed.settings.service_stack_name
    )
    metrics = sorted(a.get("MetricName", "math") for a in alarms["MetricAlarms"])
    assert metrics == ["Duration", "Errors", "Throttles", "math"]
    (math,) = [a for a in alarms["MetricAlarms"] if a.get("Metrics")]
    used = sorted(
        q["MetricStat"]["Metric"]["MetricName"] for q in math["Metrics"] if "MetricStat" in q
    )
    assert used == ["ExecutionsAborted", "ExecutionsFailed", "ExecutionsTimedOut"]


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


def test_stepfunctions_service_credentials(deployed: Deployed) -> None:
    # a batch's Lambda tasks reach the function through the gate, which refuses moto's fixed
    # "ak" key: they succeed only when signed with the server's own key
    import ops

    result = ops.run_batch(ops.sample_rows(5), progress=False, settings=deployed.settings)
    assert isinstance(result, ops.BatchResult)
    assert (result.rows, result.succeeded, result.failed_slices) == (5, 5, 0)


def test_kms_key_properties(deployed: Deployed) -> None:
    kms = deployed.client("kms")
    described = kms.describe_key(KeyId=deployed.outputs.signing_key)["KeyMetadata"]
    assert (described["KeySpec"], described["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    assert described["SigningAlgorithms"] == ["ECDSA_SHA_256"]


def test_kms_invalid_signature(deployed: Deployed) -> None:
    kms = deployed.client("kms")
    key = deployed.outputs.signing_key
    signed = kms.sign(KeyId=key, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    ok = kms.verify(
        KeyId=key,
        Message=b"m",
        MessageType="RAW",
        Signature=signed["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )
    assert ok["SignatureValid"] is True
    with pytest.raises(ClientError) as caught:
        kms.verify(
            KeyId=key,
            Message=b"other",
            MessageType="RAW",
            Signature=signed["Signature"],
            SigningAlgorithm="ECDSA_SHA_256",
        )
    assert caught.value.response["Error"]["Code"] == "KMSInvalidSignatureException"


def test_iam_resource_wildcards(deployed: Deployed) -> None:
    # GIVEN the function's role, whose batch patterns spell the run id with 24 `?`
    lam = deployed.client("lambda")
    role = lam.get_function_configuration(FunctionName=deployed.outputs.function_name)["Role"]
    creds = deployed.client("sts").assume_role(RoleArn=role, RoleSessionName="wildcards")[
        "Credentials"
    ]
    s3 = deployed.client(
        "s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"]
    )
    bucket = deployed.outputs.batch_bucket
    good = "batch/20261128T120000-0123abcd/output/part-000000000.jsonl"
    # THEN a key of the right shape may be written, as AWS allows
    s3.put_object(Bucket=bucket, Key=good, Body=b"{}")
    # AND keys whose run id is longer or shorter, or that nest folders, are refused
    for bad in (
        "batch/20261128T120000-0123abcdX/output/part-000000000.jsonl",
        "batch/a/output/b/input/c",
        "batch/20261128T120000-0123abc/output/x",
    ):
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket=bucket, Key=bad, Body=b"{}")
        assert caught.value.response["Error"]["Code"] == "AccessDenied", bad
