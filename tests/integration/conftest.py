"""One local target per test session: started on a free port, deployed once, torn down at end.

Everything goes over HTTP to the server process (no mock_aws, no stubs).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

import ops
from ops.aws.outputs import StackOutputs
from ops.modelfiles.demo_model import DemoModel
from reintento_local.credentials import OperatorCredentials, read_credentials
from reintento_local.process import free_port

# Stand-ins for real keys an operator may have exported: no process of the local target may see
# these values (their sentinel text is searched for in /proc/<pid>/environ).
OPERATOR_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIAOPERATORREALKEY1",
    "AWS_SECRET_ACCESS_KEY": "operator-real-secret-do-not-leak",
    "AWS_SESSION_TOKEN": "operator-real-token-do-not-leak",
}


LOGS_INGESTION_SECONDS = 1.0


def until(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    """``check()``'s first truthy answer, asked every half second; its last answer after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def wait_for_ingestion() -> None:
    """Until the log events written so far are searchable (CloudWatch Logs' ingestion lag)."""
    time.sleep(LOGS_INGESTION_SECONDS + 0.3)


def run_slices(target: Any, run_id: str, slices: list[Any], timeout: float = 300.0) -> Any:
    """Start the batch state machine directly on ``slices`` (their manifest written first, as
    ``run_batch`` does) with the live function version; wait for it; return DescribeExecution."""
    from ops.batch import put_ticket
    from ops.service import live_model
    from reintento_function.contract import RunTicket, manifest_key

    out, pinned = target.outputs, live_model.current(target)
    assert pinned is not None
    first = slices[0]
    ticket = RunTicket(
        run_id=run_id,
        function_version=pinned.function_version,
        rows=sum(item.rows for item in slices),
        slice_rows=first.rows,
        slice_format=first.input_key.rsplit(".", 1)[-1],
        probabilities=first.probabilities,
    )
    put_ticket(target, ticket)  # as run_batch signs it: the function runs only its work items
    target.client("s3").put_object(
        Bucket=out.batch_bucket,
        Key=manifest_key(run_id),
        Body=json.dumps([item.as_item() for item in slices]).encode(),
    )
    sfn = target.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=out.state_machine_arn,
        name=run_id,
        input=json.dumps(
            {
                "manifest_key": manifest_key(run_id),
                "run_id": run_id,
                "function_version": pinned.function_version,
            }
        ),
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


@dataclass(frozen=True)
class Deployed:
    settings: ops.Settings
    outputs: StackOutputs
    model_version: str
    endpoint: str

    @property
    def operator(self) -> OperatorCredentials:
        """The running local target's per-start key (what ops signs with)."""
        credentials = read_credentials(self.settings.state_dir)
        assert credentials is not None
        return credentials

    def client(self, service: str, **credentials: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.settings.region,
            aws_access_key_id=credentials.get("key", self.operator.access_key_id),
            aws_secret_access_key=credentials.get("secret", self.operator.secret_access_key),
            aws_session_token=credentials.get("token"),
        )

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess (CLI, awscli) aimed at this local target."""
        return {
            **os.environ,
            "REINTENTO_LOCAL_PORT": str(self.settings.local_port),
            "REINTENTO_STATE_DIR": str(self.settings.state_dir),
            "AWS_ACCESS_KEY_ID": self.operator.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.operator.secret_access_key,
            "AWS_DEFAULT_REGION": self.settings.region,
        }


@pytest.fixture(scope="session")
def local_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ops.Settings]:
    settings = ops.Settings.resolve(
        target="local",
        local_port=free_port(),
        state_dir=tmp_path_factory.mktemp("local-target"),
        stage="it",
    )
    # the operator's own AWS keys are in the environment that starts the local target: the
    # server and its functions must not inherit them (tests/integration/test_security.py)
    # alarms evaluate every second here (CloudWatch: every minute), and log events are
    # searchable a second after they are written (default 2); the cadence only
    started_with = {
        **OPERATOR_ENVIRONMENT,
        "REINTENTO_ALARM_EVALUATION_SECONDS": "1",
        "REINTENTO_LOGS_INGESTION_SECONDS": str(LOGS_INGESTION_SECONDS),
    }
    saved = {k: os.environ.get(k) for k in started_with}
    os.environ.update(started_with)
    try:
        ops.start_local(settings=settings)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield settings
    ops.stop_local(settings=settings)


@pytest.fixture(scope="session")
def deployed(local_settings: ops.Settings, demo_model: DemoModel) -> Deployed:
    """GIVEN the stacks of infra/ deployed to the local target with the demo model uploaded."""
    result = ops.deploy(settings=local_settings, approve_security_changes=True)
    assert isinstance(result, ops.DeployResult)
    upload = ops.upload_model(demo_model.path, settings=local_settings)
    assert isinstance(upload, ops.UploadResult) and upload.version_id
    endpoint = ops.local_status(settings=local_settings).endpoint
    return Deployed(local_settings, result.outputs, upload.version_id, endpoint)


@pytest.fixture(scope="session")
def state_dir(local_settings: ops.Settings) -> Path:
    return local_settings.state_dir


# the first attempt of a batch slice and its 3 retries (the state machine's Retry on crashes)
EVERY_ATTEMPT = 4


def crash_slices(state_dir: Path, count: int = EVERY_ATTEMPT) -> None:
    """Make the platform crash the next ``count`` batch-slice invocations of the function."""
    from reintento_local import faults

    faults.inject(
        state_dir,
        [
            {
                "function": "InferenceFunction",
                "event_key": "batch_slice",
                "kind": "crash",
                "count": count,
            }
        ],
    )


def account_trust(account: str) -> str:
    """A role trust policy that lets the account's principals assume the role."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def role_credentials(deployed: Deployed, role_arn: str, session: str) -> dict[str, str]:
    """A session of an existing role (the function's, the state machine's), as an admin gets one
    on AWS: the role's trust policy also names this account, then AssumeRole."""
    account = deployed.client("sts").get_caller_identity()["Account"]
    iam = deployed.client("iam")
    name = role_arn.rsplit("/", 1)[-1]
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    statements = list(trust.get("Statement", []))
    admin = json.loads(account_trust(account))["Statement"][0]
    if admin not in statements:
        iam.update_assume_role_policy(
            RoleName=name, PolicyDocument=json.dumps({**trust, "Statement": [*statements, admin]})
        )
    credentials = deployed.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)
    return dict(credentials["Credentials"])


def role_client(deployed: Deployed, service: str, name: str, statements: list[Any]) -> Any:
    """A client signed with a fresh role's credentials (IAM enforced), whose policy is given."""
    account = deployed.client("sts").get_caller_identity()["Account"]
    iam = deployed.client("iam")
    trust = account_trust(account)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="probe",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    creds = deployed.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName=name)
    c = creds["Credentials"]
    return deployed.client(
        service, key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"]
    )
