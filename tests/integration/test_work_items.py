"""Batch work items only from the run ops started (issue "rollouts and batches nobody can
steer", findings 2 and 3), on the deployed stack with a second principal that may only invoke
the function: it can neither trip the errors alarm with a malformed work item nor rewrite a
finished run's results."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

import ops
from reintento_function import contract
from tests.integration.conftest import Deployed, role_client


def _invoker(deployed: Deployed) -> Any:
    """A caller allowed lambda:InvokeFunction on the function (its versions and aliases) only."""
    arn = deployed.client("lambda").get_function(FunctionName=deployed.outputs.function_name)[
        "Configuration"
    ]["FunctionArn"]
    statement = {
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": [arn, f"{arn}:*"],
    }
    return role_client(deployed, "lambda", f"work-item-caller-{uuid.uuid4().hex[:8]}", [statement])


def _invoke(lam: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    answer = lam.invoke(FunctionName=function, Qualifier="live", Payload=json.dumps(event))
    body: dict[str, Any] = json.loads(answer["Payload"].read())
    return {"function_error": answer.get("FunctionError"), **body}


def test_a_caller_cannot_trip_the_errors_alarm_with_a_malformed_work_item(
    deployed: Deployed,
) -> None:
    # GIVEN a caller who may only invoke
    lam = _invoker(deployed)
    # WHEN it sends a malformed work item (the review's `{"batch_slice": {}}`)
    answer = _invoke(lam, deployed.outputs.function_name, {contract.EVENT_SLICE: {}})
    # THEN it is answered as data, not a function error (which counts in Lambda's Errors
    # metric, the errors alarm and a canary's error guardrail), saying why
    assert answer["function_error"] is None, answer
    assert answer["error"]["type"] == "WorkItemRefused"
    assert (answer["rows"], answer["failed"]) == (0, 0)


def test_a_caller_cannot_rewrite_a_finished_runs_results(deployed: Deployed) -> None:
    # GIVEN a finished batch run, its results in S3
    s = deployed.settings
    done = ops.run_batch(ops.sample_rows(30), slice_rows=10, progress=False, settings=s)
    assert isinstance(done, ops.BatchResult) and done.ok
    s3 = deployed.client("s3")
    bucket = deployed.outputs.batch_bucket
    key = done.result_keys[0]
    before = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    item = json.loads(
        s3.get_object(Bucket=bucket, Key=contract.manifest_key(done.run_id))["Body"].read()
    )[0]
    lam = _invoker(deployed)
    forged = {"bucket": bucket, **{k: item[k] for k in contract.SLICE_FIELDS}}
    # WHEN a caller replays one of its work items changed (labels only; another start row; a
    # start row between slices), or names a run ops never started
    for change in (
        {"probabilities": not item["probabilities"]},
        {"first_row": item["first_row"] + 10},
        {"first_row": item["first_row"] + 3},
        {
            "input_key": item["input_key"].replace(done.run_id, "20200101T000000-00000000"),
            "output_key": item["output_key"].replace(done.run_id, "20200101T000000-00000000"),
        },
    ):
        answer = _invoke(
            lam, deployed.outputs.function_name, {contract.EVENT_SLICE: forged | change}
        )
        # THEN each is refused as data, and the run's results are unchanged
        assert answer["function_error"] is None and answer["error"]["type"] == "WorkItemRefused"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == before


def test_invoke_is_authorized_on_the_arn_its_qualifier_names(deployed: Deployed) -> None:
    """IAM authorizes an Invoke with a Qualifier on the qualified ARN (function:NAME:QUALIFIER):
    a policy on the unqualified ARN covers unqualified calls only, one on the alias's ARN covers
    calls of that alias (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html).
    The local target checked every Invoke against the unqualified ARN."""
    name = deployed.outputs.function_name
    arn = deployed.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    event = {contract.EVENT_DESCRIBE: {}}

    def caller(resource: str) -> Any:
        statement = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": resource}
        role = f"qualifier-{uuid.uuid4().hex[:8]}"
        return role_client(deployed, "lambda", role, [statement])

    # GIVEN a caller allowed only the live alias: it invokes the alias, not another version
    alias_only = caller(f"{arn}:{contract.LIVE_ALIAS}")
    assert "model" in _invoke(alias_only, name, event)
    with pytest.raises(ClientError, match="AccessDenied"):
        alias_only.invoke(FunctionName=name, Qualifier="$LATEST", Payload=json.dumps(event))
    # AND a caller allowed only the unqualified ARN cannot invoke the alias
    unqualified = caller(arn)
    with pytest.raises(ClientError, match="AccessDenied"):
        _invoke(unqualified, name, event)
