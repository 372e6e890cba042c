"""Each named fidelity fix to moto, observed through the deployed stack over HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reintento_function.contract import EVENT_DESCRIBE, manifest_key
from reintento_local import patches
from tests.integration.conftest import Deployed, role_client, role_credentials, until

EXPECTED = [
    "lambda-docker-less-runtime",
    "lambda-function-states",
    "lambda-published-version-immutable",
    "lambda-published-version-pending",
    "lambda-account-settings",
    "sts-trust-policies",
    "lambda-image-index-refused",
    "lambda-invoke-qualifier",
    "lambda-alias-routing",
    "lambda-alias-revision-id",
    "iam-role-enforcement",
    "s3-bucket-properties",
    "s3-bucket-policy-resource",
    "lambda-cfn-properties",
    "stepfunctions-executable",
    "stepfunctions-payload-limits",
    "stepfunctions-history-limit",
    "stepfunctions-distributed-map",
    "stepfunctions-express-children-outlive-a-stop",
    "stepfunctions-map-run-execution-counts",
    "stepfunctions-map-run-start-permission",
    "cloudformation-delete-failed",
    "cloudwatch-alarm-resource",
    "cloudwatch-aws-metrics",
    "cloudwatch-metrics-arrive-late",
    "cloudwatch-percentile-statistics",
    "cloudwatch-alarm-evaluation",
    "cloudwatch-logs-ingestion",
    "sns-topic-policy-resource",
    "changeset-stacks",
    "stepfunctions-service-credentials",
    "iam-policy-conditions",
    "s3-missing-key-needs-list-bucket",
    "iam-resource-wildcards",
    "cloudformation-template-url",
    "cloudformation-change-sets",
    "iam-role-cfn-policies",
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


def test_s3_bucket_policy_resource_and_tls_condition(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    bucket = deployed.outputs.model_bucket
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # the TLS-only policy does not refuse the loopback endpoint: its requests carry
    # aws:SecureTransport=true (iam-policy-conditions), so the Deny's condition does not hold
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
    run_id = "20261129T000000-0000e0e0"
    deployed.client("s3").put_object(
        Bucket=deployed.outputs.batch_bucket, Key=manifest_key(run_id), Body=b"[]"
    )
    empty = json.dumps(
        {"manifest_key": manifest_key(run_id), "run_id": run_id, "function_version": "live"}
    )
    first = sfn.start_execution(stateMachineArn=deployed.outputs.state_machine_arn, input=empty)
    second = sfn.start_execution(stateMachineArn=deployed.outputs.state_machine_arn, input=empty)
    assert first["executionArn"] != second["executionArn"]


def test_cloudwatch_alarm_resource(deployed: Deployed) -> None:
    alarms = deployed.client("cloudwatch").describe_alarms(
        AlarmNamePrefix=deployed.settings.service_stack_name
    )
    metrics = sorted(a.get("MetricName", "math") for a in alarms["MetricAlarms"])
    assert metrics == [
        "BatchSlicesFailed",
        "Errors",
        "RealtimeLatency",
        "Throttles",
        "math",
        "math",
        "math",
    ]
    used = sorted(
        sorted(q["MetricStat"]["Metric"]["MetricName"] for q in a["Metrics"] if "MetricStat" in q)
        for a in alarms["MetricAlarms"]
        if a.get("Metrics")
    )
    # the batch alarm (failed + timed out + aborted), the invalid-request alarm (refused
    # requests over invocations) and the drift alarm (rows out of profile over rows compared)
    assert used == [
        ["ExecutionsAborted", "ExecutionsFailed", "ExecutionsTimedOut"],
        ["InvalidRequests", "Invocations"],
        ["OutOfProfileRows", "ProfiledRows"],
    ]


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
    creds = role_credentials(deployed, role, "wildcards")
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


def _code(attempt: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        attempt()
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.fixture(scope="module")
def probe_bucket(deployed: Deployed) -> str:
    s3 = deployed.client("s3")
    s3.create_bucket(Bucket="conditions-probe")
    s3.put_object(Bucket="conditions-probe", Key="models/here.pkl", Body=b"x")
    return "conditions-probe"


def test_s3_missing_key_needs_list_bucket(deployed: Deployed, probe_bucket: str) -> None:
    # GIVEN roles that may read the bucket's objects: without s3:ListBucket, with it, and with
    # it only for one key's prefix (API_GetObject, "Permissions": 404 with ListBucket, else 403)
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    read = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{probe_bucket}/*",
    }
    listing = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{probe_bucket}",
    }
    only_model = {**listing, "Condition": {"StringEquals": {"s3:prefix": "models/missing.pkl"}}}
    no_list = role_client(deployed, "s3", "probe-no-list", [read])
    with_list = role_client(deployed, "s3", "probe-list", [read, listing])
    prefix_list = role_client(deployed, "s3", "probe-prefix-list", [read, only_model])
    # THEN an object that exists is read by all three
    for s3 in (no_list, with_list, prefix_list):
        assert s3.get_object(Bucket=probe_bucket, Key="models/here.pkl")["Body"].read() == b"x"
    # AND a missing key is AccessDenied (403) without ListBucket, NoSuchKey (404) with it
    missing = "models/missing.pkl"
    assert _code(lambda: no_list.get_object(Bucket=probe_bucket, Key=missing)) == (
        403,
        "AccessDenied",
    )
    assert _code(lambda: no_list.head_object(Bucket=probe_bucket, Key=missing))[0] == 403
    assert _code(lambda: with_list.get_object(Bucket=probe_bucket, Key=missing)) == (
        404,
        "NoSuchKey",
    )
    assert _code(lambda: with_list.head_object(Bucket=probe_bucket, Key=missing))[0] == 404
    # AND with ListBucket only for the key's prefix: 404 for that key, 403 for any other
    assert _code(lambda: prefix_list.get_object(Bucket=probe_bucket, Key=missing))[0] == 404
    assert _code(lambda: prefix_list.get_object(Bucket=probe_bucket, Key="models/x"))[0] == 403


def test_iam_policy_conditions(deployed: Deployed, probe_bucket: str) -> None:
    # GIVEN a role that may list the bucket only under models/, and is denied reads over plain
    # HTTP (the loopback endpoint's requests carry aws:SecureTransport=true)
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
    statements = [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{probe_bucket}",
            "Condition": {"StringLike": {"s3:prefix": "models/*"}},
        },
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{probe_bucket}/*"},
        {
            "Effect": "Deny",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{probe_bucket}/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{probe_bucket}/*",
            "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
        },
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{probe_bucket}/*"},
    ]
    s3 = role_client(deployed, "s3", "probe-conditions", statements)
    # THEN listing with a prefix the condition allows works; another prefix or none is denied
    listed = s3.list_objects_v2(Bucket=probe_bucket, Prefix="models/")
    assert [o["Key"] for o in listed["Contents"]] == ["models/here.pkl"]
    assert _code(lambda: s3.list_objects_v2(Bucket=probe_bucket, Prefix="other/"))[0] == 403
    assert _code(lambda: s3.list_objects_v2(Bucket=probe_bucket))[0] == 403
    # AND a Deny whose condition does not hold does not deny (the read works)
    assert s3.get_object(Bucket=probe_bucket, Key="models/here.pkl")["Body"].read() == b"x"
    # AND a Deny with an operator the local target cannot evaluate denies (never widens access)
    assert _code(lambda: s3.put_object(Bucket=probe_bucket, Key="models/y", Body=b"y"))[0] == 403


def test_bucket_policy_conditions_apply_to_every_caller(deployed: Deployed) -> None:
    # GIVEN a bucket whose policy denies reads under private/ while a condition holds
    s3 = deployed.client("s3")
    s3.create_bucket(Bucket="bucket-policy-probe")
    s3.put_object(Bucket="bucket-policy-probe", Key="private/a", Body=b"a")
    s3.put_object(Bucket="bucket-policy-probe", Key="public/a", Body=b"a")
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::bucket-policy-probe/private/*",
        "Condition": {"NumericGreaterThan": {"aws:EpochTime": "0"}},
    }
    s3.put_bucket_policy(
        Bucket="bucket-policy-probe",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}),
    )
    # THEN the operator too is refused there, and not elsewhere in the bucket
    assert _code(lambda: s3.get_object(Bucket="bucket-policy-probe", Key="private/a"))[0] == 403
    assert s3.get_object(Bucket="bucket-policy-probe", Key="public/a")["Body"].read() == b"a"


def _run_machine(
    deployed: Deployed, name: str, definition: dict[str, Any], body: str, seconds: float = 10
) -> Any:
    sfn = deployed.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/probe",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=body)["executionArn"]
    for _ in range(int(seconds * 10)):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError(f"{name} still running")


def _caught_all(big: int) -> dict[str, Any]:
    """A Pass state returning ``big`` bytes, behind a Catch on States.ALL."""
    return {
        "StartAt": "Big",
        "States": {
            "Big": {
                "Type": "Pass",
                "Result": {"blob": "x" * big},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def _map_of(items: int, each: int) -> dict[str, Any]:
    """A Map whose collected output is ``items`` x ``each`` bytes, behind a catch-all."""
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "One",
                    "States": {"One": {"Type": "Pass", "Result": "y" * each, "End": True}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def test_stepfunctions_payload_limits(deployed: Deployed) -> None:
    # https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
    items = json.dumps({"items": list(range(5))})
    # a state's output over 256 KB fails the execution even behind a Catch on States.ALL
    # (States.DataLimitExceeded is terminal); under the limit it runs
    big = _run_machine(deployed, "limit-pass-big", _caught_all(300_000), "{}")
    assert (big["status"], big.get("error")) == ("FAILED", "States.DataLimitExceeded")
    small = _run_machine(deployed, "limit-pass-small", _caught_all(200_000), "{}")
    assert small["status"] == "SUCCEEDED"
    # a Map's collected output counts as one: 5 x 60 KB fails, 5 x 40 KB runs
    fanned = _run_machine(deployed, "limit-map-big", _map_of(5, 60_000), items)
    assert (fanned["status"], fanned.get("error")) == ("FAILED", "States.DataLimitExceeded")
    assert _run_machine(deployed, "limit-map-small", _map_of(5, 40_000), items)["status"] == (
        "SUCCEEDED"
    )
    # a runtime error (a path the input lacks) is terminal too: a catch-all does not catch it
    runtime = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": deployed.outputs.function_arn,
                    "Payload.$": "$.nope",
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    failed = _run_machine(deployed, "limit-runtime", runtime, "{}")
    assert (failed["status"], failed.get("error")) == ("FAILED", "States.Runtime")
    # and the execution input itself is refused over 256 KB
    sfn = deployed.client("stepfunctions")
    arn = sfn.describe_execution(executionArn=small["executionArn"])["stateMachineArn"]
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"blob": "z" * 270_000}))
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def _loop(times: int) -> dict[str, Any]:
    """A counter loop: each turn is a Pass and a Choice (4 history events)."""
    return {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": times, "Next": "Count"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


@pytest.mark.slow
def test_stepfunctions_history_limit(deployed: Deployed) -> None:
    # https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html: an execution
    # whose history reaches 25,000 events fails (stock moto's history grew without bound)
    sfn = deployed.client("stepfunctions")
    short = _run_machine(deployed, "history-short", _loop(100), '{"n": 0}')
    assert short["status"] == "SUCCEEDED" and json.loads(short["output"]) == {"n": 100}
    long = _run_machine(deployed, "history-long", _loop(7_000), '{"n": 0}', seconds=240)
    assert (long["status"], long.get("error")) == ("FAILED", "States.Runtime")
    assert "25,000 events" in long["cause"]
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=long["executionArn"], PaginationConfig={"PageSize": 1000}
    )
    events = [event for page in pages for event in page["events"]]
    assert len(events) == 25_000 and events[-1]["type"] == "ExecutionFailed"


def test_role_signed_requests_without_a_body_pass_the_signature_check(deployed: Deployed) -> None:
    # GIVEN a role that may read the function's configuration and its alias
    allowed = {
        "Effect": "Allow",
        "Action": ["lambda:GetFunctionConfiguration", "lambda:GetAlias"],
        "Resource": "*",
    }
    lam = role_client(deployed, "lambda", "probe-get", [allowed])
    # THEN its GET requests (no body: the signature covers the empty payload) are verified and
    # authorized; moto used to sign the parsed parameters instead and answered 403
    name = deployed.outputs.function_name
    assert lam.get_function_configuration(FunctionName=name)["FunctionName"] == name
    assert lam.get_alias(FunctionName=name, Name="live")["Name"] == "live"


def test_lambda_alias_revision_id(deployed: Deployed) -> None:
    # Lambda's UpdateAlias moves an alias only if its RevisionId is the one given, and every
    # change gives it a new one (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html:
    # "avoid modifying an alias that has changed since you last read it"; PreconditionFailed, 412)
    lam = deployed.client("lambda")
    name = deployed.outputs.function_name
    alias = lam.get_alias(FunctionName=name, Name="live")
    seen = alias["RevisionId"]
    # GIVEN someone else moves the alias after we read it
    moved = lam.update_alias(FunctionName=name, Name="live", RevisionId=seen, Description="x")
    assert moved["RevisionId"] != seen
    # WHEN we move it with what we read THEN Lambda refuses, changing nothing
    with pytest.raises(ClientError) as refused:
        lam.update_alias(FunctionName=name, Name="live", RevisionId=seen, Description="stale")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert lam.get_alias(FunctionName=name, Name="live")["Description"] == "x"
    # AND with the current revision it moves
    lam.update_alias(FunctionName=name, Name="live", RevisionId=moved["RevisionId"], Description="")


def test_lambda_published_version_pending(deployed: Deployed) -> None:
    # A new version is Pending while Lambda prepares it; invoking it then fails
    # (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html)
    lam = deployed.client("lambda")
    name = deployed.outputs.function_name
    lam.update_function_configuration(FunctionName=name, Description=f"probe {time.time()}")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    version = lam.publish_version(FunctionName=name)["Version"]
    # THEN right after it is published it says Pending, and an invoke of it is refused
    state = lam.get_function(FunctionName=name, Qualifier=version)["Configuration"]
    assert (state["State"], state["StateReasonCode"]) == ("Pending", "Creating")
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "ResourceConflictException"
    # AND AWS's own waiter sees it become Active, after which it answers
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    answered = lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert answered["StatusCode"] == 200


def test_a_version_ops_publishes_is_active_before_any_alias_is_routed_to_it(
    deployed: Deployed,
) -> None:
    # GIVEN ops publishing a version for a model (as an upload or rollback does)
    from ops.service import live_model
    from ops.targets import target_for

    lam = deployed.client("lambda")
    name = deployed.outputs.function_name
    target = target_for(deployed.settings)
    pinned = live_model.current(target)
    assert pinned is not None
    version = live_model.publish(target, pinned.model_version, pinned.model_sha256)
    # THEN when it returns, the version is Active: routing the live alias to it never hands
    # a caller ResourceConflictException
    state = lam.get_function(FunctionName=name, Qualifier=version)["Configuration"]
    assert state.get("State", "Active") == "Active"


def test_lambda_account_settings(deployed: Deployed) -> None:
    # GetAccountSettings answers the account's concurrency, and Lambda keeps 100 unreserved
    # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)
    lam = deployed.client("lambda")
    limits = lam.get_account_settings()["AccountLimit"]
    assert limits["ConcurrentExecutions"] == 1000
    unreserved = limits["UnreservedConcurrentExecutions"]
    assert 0 < unreserved <= 1000
    name = deployed.outputs.function_name
    # THEN a reservation that would leave fewer than 100 unreserved is refused
    with pytest.raises(ClientError) as refused:
        lam.put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=unreserved - 99
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "minimum value of [100]" in refused.value.response["Error"]["Message"]
    # AND one that leaves 100 is taken, and counted
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=unreserved - 100)
    try:
        after = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
        assert after == 100
    finally:
        lam.delete_function_concurrency(FunctionName=name)


def test_sts_trust_policies(deployed: Deployed) -> None:
    # AssumeRole as STS decides it: the role exists and its trust policy names the caller
    iam, sts = deployed.client("iam"), deployed.client("sts")
    account = sts.get_caller_identity()["Account"]

    def role(name: str, *statements: dict[str, Any]) -> str:
        trust = {"Version": "2012-10-17", "Statement": list(statements)}
        return str(
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                "Arn"
            ]
        )

    trusting = role(
        "trust-account",
        {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"},
    )
    service_only = role(
        "trust-lambda",
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        },
    )
    denying = role(
        "trust-deny",
        {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": "*", "Action": "*"},
    )
    # THEN a role trusting the account is assumed
    assert sts.assume_role(RoleArn=trusting, RoleSessionName="ok")["Credentials"]["AccessKeyId"]
    # AND a service's role, a role whose trust denies everyone, and a role that does not
    # exist are refused, as STS refuses them
    for refused in (service_only, denying, f"arn:aws:iam::{account}:role/no-such-role"):
        with pytest.raises(ClientError) as caught:
            sts.assume_role(RoleArn=refused, RoleSessionName="no")
        error = caught.value.response["Error"]
        assert error["Code"] == "AccessDenied", refused
        assert f"sts:AssumeRole on resource: {refused}" in error["Message"]


def test_lambda_image_index_refused(deployed: Deployed, tmp_path: Path) -> None:
    # BuildKit's default attestations push an image index; Lambda refuses one
    # (https://docs.aws.amazon.com/lambda/latest/dg/images-create.html: --provenance=false)
    from reintento_local.images import register_image

    ecr, lam = deployed.client("ecr"), deployed.client("lambda")
    role = lam.get_function_configuration(FunctionName=deployed.outputs.function_name)["Role"]
    registry = ecr.describe_registry()["registryId"]
    uri = f"{registry}.dkr.ecr.{deployed.settings.region}.amazonaws.com/probe-index"
    # GIVEN an image pushed as an index (a build with BuildKit's default provenance)
    register_image(ecr, "probe-index", "attested", tmp_path, index=True)
    # WHEN a function is created from it THEN Lambda refuses, naming the media type
    with pytest.raises(ClientError) as refused:
        lam.create_function(
            FunctionName="probe-index",
            PackageType="Image",
            Code={"ImageUri": f"{uri}:attested"},
            Role=role,
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "media type" in refused.value.response["Error"]["Message"]
    # AND the deployed function cannot be moved onto it either
    with pytest.raises(ClientError) as also:
        lam.update_function_code(
            FunctionName=deployed.outputs.function_name, ImageUri=f"{uri}:attested"
        )
    assert also.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_change_sets_are_found_by_name_within_their_stack(deployed: Deployed) -> None:
    # GIVEN two stacks, each with a change set of the same name (the CDK CLI names every
    # stack's `cdk-deploy-change-set`): a name is unique within its stack only
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html
    cf = deployed.client("cloudformation")
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}})
    stacks = ("ChangeSetScopeA", "ChangeSetScopeB")
    ids = {
        stack: cf.create_change_set(
            StackName=stack,
            ChangeSetName="same-name",
            TemplateBody=template,
            ChangeSetType="CREATE",
        )["Id"]
        for stack in stacks
    }
    # THEN each is described within its own stack
    for stack in stacks:
        found = cf.describe_change_set(StackName=stack, ChangeSetName="same-name")
        assert found["ChangeSetId"] == ids[stack]
    # AND deleting one stack's leaves the other's
    cf.delete_change_set(StackName=stacks[0], ChangeSetName="same-name")
    kept = cf.describe_change_set(StackName=stacks[1], ChangeSetName="same-name")
    assert kept["ChangeSetId"] == ids[stacks[1]]
    # AND a change set that does not exist is ChangeSetNotFound (404), not a missing stack;
    # deleting it again is a no-op
    missing = lambda: cf.describe_change_set(StackName=stacks[0], ChangeSetName="same-name")  # noqa: E731
    assert _code(missing) == (404, "ChangeSetNotFound")
    cf.delete_change_set(StackName=stacks[0], ChangeSetName="same-name")
    # AND the other one still runs, found by its name within its stack; created, the stack
    # has no LastUpdatedTime (AWS sets it on updates only)
    cf.execute_change_set(StackName=stacks[1], ChangeSetName="same-name")
    created = cf.describe_stacks(StackName=stacks[1])["Stacks"][0]
    assert created["StackStatus"] == "CREATE_COMPLETE" and "LastUpdatedTime" not in created
    # AND an executed update sets it
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html
    updated_template = template.replace('"Properties": {}', '"Properties": {"TopicName": "t2"}')
    cf.create_change_set(
        StackName=stacks[1],
        ChangeSetName="update",
        TemplateBody=updated_template,
        ChangeSetType="UPDATE",
    )
    cf.execute_change_set(StackName=stacks[1], ChangeSetName="update")
    updated = cf.describe_stacks(StackName=stacks[1])["Stacks"][0]
    assert updated["LastUpdatedTime"] >= created["CreationTime"]
    for stack in stacks:
        cf.delete_stack(StackName=stack)
    # AND a stack made again under a deleted one's name has its own change set of that name
    # (a name means the live stack: a redeploy after a teardown)
    renewed = cf.create_change_set(
        StackName=stacks[1],
        ChangeSetName="same-name",
        TemplateBody=template,
        ChangeSetType="CREATE",
    )["Id"]
    found = cf.describe_change_set(StackName=stacks[1], ChangeSetName="same-name")
    assert found["ChangeSetId"] == renewed
    cf.execute_change_set(StackName=stacks[1], ChangeSetName="same-name")
    cf.delete_stack(StackName=stacks[1])


def test_cloudformation_delete_failed_on_a_bucket_with_contents(deployed: Deployed) -> None:
    # GIVEN a stack whose bucket holds an object (a version of it: versioning on)
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucket.html
    cf, s3 = deployed.client("cloudformation"), deployed.client("s3")
    template = {
        "Resources": {
            "Kept": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        },
        "Outputs": {"Bucket": {"Value": {"Ref": "Kept"}}},
    }
    cf.create_stack(StackName="DeleteFailedProbe", TemplateBody=json.dumps(template))
    (stack,) = cf.describe_stacks(StackName="DeleteFailedProbe")["Stacks"]
    bucket = stack["Outputs"][0]["OutputValue"]
    s3.put_object(Bucket=bucket, Key="left.txt", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="left.txt")  # a delete marker and a version remain
    # WHEN the stack is deleted
    cf.delete_stack(StackName="DeleteFailedProbe")
    # THEN it is DELETE_FAILED, still listed, saying the bucket is not empty; the bucket is kept
    (failed,) = cf.describe_stacks(StackName="DeleteFailedProbe")["Stacks"]
    assert failed["StackStatus"] == "DELETE_FAILED"
    reasons = [
        e.get("ResourceStatusReason", "")
        for e in cf.describe_stack_events(StackName="DeleteFailedProbe")["StackEvents"]
        if e["ResourceStatus"] == "DELETE_FAILED"
    ]
    assert any("BucketNotEmpty" in r for r in reasons), reasons
    s3.head_bucket(Bucket=bucket)
    # AND once every version and delete marker is gone, DeleteStack again deletes it all
    versions = s3.list_object_versions(Bucket=bucket)
    for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    cf.delete_stack(StackName="DeleteFailedProbe")
    assert _code(lambda: cf.describe_stacks(StackName="DeleteFailedProbe"))[1] == "ValidationError"
    assert _code(lambda: s3.head_bucket(Bucket=bucket))[0] == 404


def test_stepfunctions_express_children_outlive_a_stop_and_map_run_execution_counts(
    local_settings: Any, demo_model: Any
) -> None:
    import contextlib
    import threading

    import ops
    from ops.targets import target_for
    from reintento_function.contract import batch_prefix
    from reintento_local import faults

    # a stage of its own: a stopped batch fires its failed-batches alarm
    s = ops.Settings.resolve(local_settings, stage="mapstop")
    ops.deploy(settings=s, approve_security_changes=True)
    ops.upload_model(demo_model.path, settings=s)
    target = target_for(s)
    sfn, machine = target.client("stepfunctions"), target.outputs.state_machine_arn
    # GIVEN a batch of two slices in flight, each held 10 s (the second slice may wait seconds
    # for an execution environment of its own on a loaded machine: they must still overlap)
    rule = {"function": "mapstop", "event_key": "batch_slice", "count": 2}
    faults.inject(s.state_dir, [{**rule, "kind": "slow", "seconds": 10}])
    try:

        def batch() -> None:
            with contextlib.suppress(BaseException):  # stopped below
                ops.run_batch(ops.sample_rows(400), slice_rows=200, progress=False, settings=s)

        threading.Thread(target=batch, daemon=True).start()
        deadline = time.monotonic() + 60
        while any(r["count"] for r in faults.remaining(s.state_dir)):
            assert time.monotonic() < deadline, "the slices did not start"
            time.sleep(0.1)
        (running,) = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")[
            "executions"
        ]
        (run,) = sfn.list_map_runs(executionArn=running["executionArn"])["mapRuns"]

        def counts() -> dict[str, int]:
            return dict(sfn.describe_map_run(mapRunArn=run["mapRunArn"])["executionCounts"])

        # THEN while they run, DescribeMapRun counts them running
        assert counts()["running"] == 2, counts()
        # WHEN the parent is stopped
        sfn.stop_execution(executionArn=running["executionArn"])
        # THEN the parent is ABORTED at once (its Map does not wait for children it cannot stop)
        deadline = time.monotonic() + 2
        while sfn.describe_execution(executionArn=running["executionArn"])["status"] != "ABORTED":
            assert time.monotonic() < deadline, "the parent waited for its Express children"
            time.sleep(0.1)
        assert counts()["running"] == 2, counts()
        # AND the Express children already running are not stopped: each runs to its end (its
        # task, then the states after it: succeeded, not aborted) and writes its results; once
        # they end none is counted running
        # https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
        # https://docs.aws.amazon.com/step-functions/latest/apireference/API_MapRunExecutionCounts.html
        deadline = time.monotonic() + 60
        while counts()["running"]:
            assert time.monotonic() < deadline, counts()
            time.sleep(0.2)
        ended = counts()
        assert (ended["succeeded"], ended["aborted"]) == (2, 0), ended
        described = sfn.describe_execution(executionArn=running["executionArn"])
        run_id = json.loads(described["input"])["run_id"]
        written = target.client("s3").list_objects_v2(
            Bucket=target.outputs.batch_bucket, Prefix=batch_prefix(run_id, "output")
        )
        assert written.get("KeyCount") == 2, written.get("Contents")
    finally:
        faults.inject(s.state_dir, [])
    ops.teardown(s.service_stack_name, settings=s)


def test_cloudwatch_metrics_arrive_late(deployed: Deployed) -> None:
    """Lambda sends its metrics to CloudWatch in 1-minute intervals
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html): a call's datapoints
    are queryable a while after it, stamped with its time. moto showed them at once."""
    from reintento_local import faults, metrics_delay

    lam, cw = deployed.client("lambda"), deployed.client("cloudwatch")
    name = deployed.outputs.function_name
    state_dir = deployed.settings.state_dir
    # GIVEN CloudWatch 6 s behind the calls (the target says so to its callers)
    faults.inject(state_dir, [{"kind": "late_metrics", "seconds": 6}])
    try:
        assert metrics_delay(state_dir) == 6
        version = lam.publish_version(FunctionName=name)["Version"]
        lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
        dims = [
            {"Name": "FunctionName", "Value": name},
            {"Name": "Resource", "Value": f"{name}:{version}"},
        ]

        def calls() -> float:
            now = time.time()
            points = cw.get_metric_statistics(
                Namespace="AWS/Lambda",
                MetricName="Invocations",
                Dimensions=dims,
                StartTime=now - 600,
                EndTime=now + 60,
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
            return sum(p["Sum"] for p in points)

        before = calls()  # earlier calls of this version (if any) arrived long ago
        # WHEN the version is called once
        describe = json.dumps({EVENT_DESCRIBE: {}}).encode()
        lam.invoke(FunctionName=name, Qualifier=version, Payload=describe)
        answered = time.monotonic()
        # THEN its datapoint is not there right after the call
        assert calls() == before
        # AND it is there once the delay has passed, stamped with the time of the call
        assert until(lambda: calls() == before + 1, 20)
        assert time.monotonic() - answered >= 5
    finally:
        faults.inject(state_dir, [])
    # AND without the rule the server's own delay holds (2 s for the tests)
    assert metrics_delay(state_dir) == 2


def _state_machine_role(local_settings: Any, demo_model: Any) -> tuple[Any, Any, str, Any, str]:
    """The "mapstop" stage with the demo model: its settings, target, state machine ARN, an IAM
    client and the name of the state machine's role (the tests below change its policy)."""
    import ops
    from ops.targets import target_for

    s = ops.Settings.resolve(local_settings, stage="mapstop")
    ops.deploy(settings=s, approve_security_changes=True)
    ops.upload_model(demo_model.path, settings=s)
    target = target_for(s)
    machine = target.outputs.state_machine_arn
    role = target.client("stepfunctions").describe_state_machine(stateMachineArn=machine)["roleArn"]
    return s, target, machine, target.client("iam"), role.rsplit("/", 1)[-1]


def test_stepfunctions_tasks_sign_with_the_state_machine_s_role(
    local_settings: Any, demo_model: Any
) -> None:
    """#29: the state machine's tasks signed with the server's own key, so its role's policy was
    never exercised (a batch succeeded under a deny-all policy on that role). Step Functions
    makes a task's calls with the state machine's role."""
    import ops

    # the stage of the test above: a failed batch fires its failed-batches alarm
    s, target, _, iam, role_name = _state_machine_role(local_settings, demo_model)
    rows = ops.sample_rows(300)
    # GIVEN the state machine's role may not invoke any function
    deny = {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="deny-invoke",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]}),
    )
    try:
        # WHEN a batch runs
        try:
            outcome = str(ops.run_batch(rows, progress=False, settings=s).errors().to_dict())
        except ops.OpsError as err:
            outcome = str(err)
    finally:
        iam.delete_role_policy(RoleName=role_name, PolicyName="deny-invoke")
    # THEN its slices were refused: the function's invocation was authorized against the role
    print(outcome[:400])
    assert "AccessDenied" in outcome, outcome[:1000]
    # AND the stage's failed-slices alarm fires (#36: the execution succeeded, its slices'
    # failures caught; the state machine counts each one)
    cw = target.client("cloudwatch")

    def slices_alarm() -> str:
        (alarm,) = [
            a
            for a in cw.describe_alarms(AlarmNamePrefix=s.service_stack_name)["MetricAlarms"]
            if a.get("MetricName") == "BatchSlicesFailed"
        ]
        return str(alarm["StateValue"])

    assert until(lambda: slices_alarm() == "ALARM", 30), slices_alarm()
    # AND with the role's own policy the same batch answers every row
    result = ops.run_batch(rows, progress=False, settings=s)
    assert result.ok and result.result_rows == len(rows), result


def test_a_distributed_map_needs_its_role_to_start_its_child_workflows(
    local_settings: Any, demo_model: Any
) -> None:
    """#29: moto ran a Distributed Map's children in process without asking, so the state
    machine role's ``states:StartExecution`` on itself (which AWS needs to start them:
    https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html) was
    never exercised: a batch succeeded with it denied."""
    import ops

    s, _, machine, iam, role_name = _state_machine_role(local_settings, demo_model)
    rows = ops.sample_rows(50)
    # GIVEN the state machine's role may not start executions of its own state machine (a
    # statement with a condition on the request's context, which the decision must have)
    account = machine.split(":")[4]
    deny = {
        "Effect": "Deny",
        "Action": "states:StartExecution",
        "Resource": machine,
        "Condition": {"StringEquals": {"aws:ResourceAccount": account}},
    }
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="deny-children",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]}),
    )
    try:
        # WHEN a batch runs THEN it fails, naming the refusal and the permission
        with pytest.raises(ops.OpsError) as failed:
            ops.run_batch(rows, progress=False, settings=s)
    finally:
        iam.delete_role_policy(RoleName=role_name, PolicyName="deny-children")
    assert "AccessDenied" in str(failed.value) and "states:StartExecution" in str(failed.value)
    # AND with the role's own policy (which grants it) the same batch answers every row
    result = ops.run_batch(rows, progress=False, settings=s)
    assert result.ok and result.result_rows == len(rows), result
