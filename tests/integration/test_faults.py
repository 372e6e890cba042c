"""Faults per verb reach the caller as an OpsError with a next step, never a botocore traceback:
no credentials, an unreachable endpoint, throttling, and each part of a deployment gone."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import ops
from ops.modelfiles.demo_model import DemoModel
from ops.targets import target_for
from reintento_local import faults, function_states
from reintento_local.process import free_port

ROWS = ops.sample_rows(2, seed=4)


def _verbs(s: ops.Settings, model: Path) -> dict[str, Callable[[], Any]]:
    return {
        "status": lambda: ops.status(settings=s),
        "predict": lambda: ops.predict(ROWS, settings=s),
        "run_batch": lambda: ops.run_batch(ROWS, progress=False, settings=s),
        "list_models": lambda: ops.list_models(settings=s),
        "upload_model": lambda: ops.upload_model(model, settings=s),
        "logs": lambda: ops.logs(settings=s),
        "deploy": lambda: ops.deploy(approve_security_changes=True, settings=s),
    }


def _refused(call: Callable[[], Any], error: type[ops.OpsError], *words: str) -> None:
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert all(w in message for w in words), message
    # a botocore cause, if any, is chained for --debug, never raised as it is
    assert not type(caught.value).__module__.startswith("botocore")


@pytest.mark.usefixtures("no_aws_credentials")
def test_no_credentials_for_aws(demo_model: DemoModel) -> None:
    s = ops.Settings.resolve(target="aws", stage="nocreds")
    for name, call in _verbs(s, demo_model.path).items():
        if name == "status":
            continue  # status reports instead of raising: below
        _refused(call, ops.CredentialsError, "credentials")


def test_unreachable_endpoint(demo_model: DemoModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # an AWS-compatible endpoint where nothing listens (loopback only)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNREACHABLE00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unreachable")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s = ops.Settings.resolve(target="aws", stage="unreachable")
    for name in ("status", "predict", "list_models"):
        _refused(_verbs(s, demo_model.path)[name], ops.ServiceUnreachableError, "cannot reach")


@pytest.fixture(scope="module")
def faulty(local_settings: ops.Settings, demo_model: DemoModel) -> ops.Settings:
    s = ops.Settings.resolve(
        target="local",
        local_port=local_settings.local_port,
        state_dir=local_settings.state_dir,
        stage="faults",
    )
    ops.deploy(approve_security_changes=True, settings=s)
    ops.upload_model(demo_model.path, settings=s)
    return s


def test_throttled(faulty: ops.Settings) -> None:
    # Lambda answers 429 TooManyRequestsException past its concurrency; botocore retries, then
    faults.inject(faulty.state_dir, [{"function": "faults", "kind": "throttle", "count": 20}])
    try:
        _refused(lambda: ops.predict(ROWS, settings=faulty), ops.ThrottledError, "try again")
    finally:
        faults.inject(faulty.state_dir, [])
    assert ops.predict(ROWS, settings=faulty)  # and it passes once the throttling stops


def _single_try_lambda(s: ops.Settings) -> Any:
    """A Lambda client that does not retry, to see each answer as it comes."""
    import boto3
    from botocore.config import Config

    from reintento_local.credentials import read_credentials

    key = read_credentials(s.state_dir)
    assert key is not None
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{s.local_port}",
        region_name=s.region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_an_inactive_function_refuses_invokes_until_it_is_active_again(
    faulty: ops.Settings,
) -> None:
    # GIVEN the function idle long enough to become Inactive (functions-states.html)
    lam = _single_try_lambda(faulty)
    name = target_for(faulty).outputs.function_name
    function_states.set_state(faulty.state_dir, "faults", "Inactive", activation_seconds=2)
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Inactive"
    # WHEN invoked  THEN ResourceNotReadyException (502), and it starts restoring (Pending),
    # during which invokes are ResourceConflictException (409)
    with pytest.raises(ClientError) as first:
        lam.invoke(FunctionName=name, Qualifier="live", Payload=b'{"describe_model": {}}')
    assert first.value.response["Error"]["Code"] == "ResourceNotReadyException"
    assert first.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Pending"
    with pytest.raises(ClientError) as pending:
        lam.invoke(FunctionName=name, Qualifier="live", Payload=b'{"describe_model": {}}')
    assert pending.value.response["Error"]["Code"] == "ResourceConflictException"
    # AND ops waits until it is Active and tries once more: the prediction is answered
    function_states.set_state(faulty.state_dir, "faults", "Inactive", activation_seconds=2)
    started = time.monotonic()
    answer = ops.predict(ROWS, settings=faulty)
    assert len(answer.predictions) == len(ROWS)
    assert time.monotonic() - started >= 1.5  # it did wait for the restore
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active"


def test_parts_of_the_deployment_gone(faulty: ops.Settings, demo_model: DemoModel) -> None:
    target = target_for(faulty)
    out = target.outputs
    s3, sfn, lam = target.client("s3"), target.client("stepfunctions"), target.client("lambda")
    # the model deleted (every version): nothing to roll back to, say so
    for version in s3.list_object_versions(Bucket=out.model_bucket).get("Versions", []):
        s3.delete_object(
            Bucket=out.model_bucket, Key=version["Key"], VersionId=version["VersionId"]
        )
    _refused(lambda: ops.rollback_model(settings=faulty), ops.OpsError, "upload")
    # the state machine deleted: a batch says to redeploy
    sfn.delete_state_machine(stateMachineArn=out.state_machine_arn)
    _refused(
        lambda: ops.run_batch(ROWS, progress=False, settings=faulty),
        ops.StackNotDeployedError,
        "deploy",
    )
    # the function deleted: realtime says to redeploy; status reports it
    lam.delete_function(FunctionName=out.function_name)
    _refused(lambda: ops.predict(ROWS, settings=faulty), ops.StackNotDeployedError, "deploy")
    assert "deploy" in ops.status(settings=faulty).note
    # the stacks deleted (or never deployed for this stage): every verb that needs them says to
    # deploy. (moto cannot delete a stack whose resources were deleted behind its back, which
    # AWS does, so a stage without stacks stands for it here.)
    gone = ops.Settings.resolve(faulty, stage="gone")
    for call in (
        lambda: ops.predict(ROWS, settings=gone),
        lambda: ops.run_batch(ROWS, progress=False, settings=gone),
        lambda: ops.logs(settings=gone),
        lambda: ops.upload_model(demo_model.path, settings=gone),
        lambda: ops.list_models(settings=gone),
    ):
        _refused(call, ops.StackNotDeployedError, "deploy")
