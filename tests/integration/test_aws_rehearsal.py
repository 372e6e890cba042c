"""The `aws` target's own code path, rehearsed against the local target as if it were AWS.

boto3 and the CDK CLI both honour ``AWS_ENDPOINT_URL``: pointed at the running local target
with its key, `cdk bootstrap` deploys the modern bootstrap stack into it, and the CLI verbs run
with ``--target aws``: the credential and bootstrap checks, synth with the account, the pinned
CDK CLI's `cdk deploy` (its asset publishing to S3, and to ECR through the `docker` stand-in
``reintento_local.docker_standin``, since no Docker daemon runs here), then upload, predict, batch,
status, metrics and teardown on the stacks the CLI deployed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ops
from ops.aws import node
from ops.modelfiles.demo_model import DemoModel
from ops.modelfiles.versions import PROJECT_ROOT
from reintento_local import docker_standin
from tests.integration.conftest import Deployed, account_trust, free_port

pytestmark = pytest.mark.slow
OPS = (sys.executable, "-m", "ops")
AWS_CLI = (sys.executable, "-m", "awscli")


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture()
def fresh_target(tmp_path: Path) -> Iterator[ops.Settings]:
    """A local target of its own: an account that nothing was deployed to (the local deploy
    path of other tests creates the assets bucket that `cdk bootstrap` must create itself)."""
    settings = ops.Settings.resolve(
        target="local", local_port=free_port(), state_dir=tmp_path / "target", stage="rehearsal"
    )
    ops.start_local(settings=settings)
    yield settings
    ops.stop_local(settings=settings)


def test_the_aws_target_deploys_and_serves_through_the_cdk_cli(
    fresh_target: ops.Settings, demo_model: DemoModel, tmp_path: Path
) -> None:
    # GIVEN the environment a user would have against an account: an endpoint, keys, a region,
    # and `docker` (here the stand-in)
    settings = fresh_target
    env = {
        **Deployed(settings, None, "", "").env,  # type: ignore[arg-type]
        # the stand-in, even where a Docker daemon runs: moto's ECR serves the API, not the
        # registry protocol `docker push` needs
        **docker_standin.install(tmp_path / "bin", settings.state_dir),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{settings.local_port}",
        "AWS_REGION": settings.region,
        "REINTENTO_TARGET": "aws",
        "REINTENTO_STAGE": "rehearsal",
    }
    env.pop("REINTENTO_STATE_DIR", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return _run([sys.executable, "-m", "ops", *args], env, PROJECT_ROOT)

    account = json.loads(
        _run([sys.executable, "-m", "awscli", "sts", "get-caller-identity"], env, tmp_path).stdout
    )["Account"]
    # WHEN the account is not bootstrapped, THEN deploy says which command to run
    unbootstrapped = cli("deploy", "--yes")
    assert unbootstrapped.returncode != 0
    assert f"bootstrap aws://{account}/{settings.region}" in unbootstrapped.stderr
    # WHEN the account is bootstrapped by the pinned CDK CLI (the modern bootstrap template)
    cdk = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"  # the pinned CLI (package-lock.json)
    assert cdk.exists(), "run `make setup` (npm ci installs the pinned CDK CLI)"
    bootstrap = _run(
        [str(cdk), "bootstrap", f"aws://{account}/{settings.region}"],
        node.environment(env),  # on the pinned Node, as `make cdk` runs it
        tmp_path,  # no cdk.json here: bootstrap only, no app to synthesize
    )
    assert bootstrap.returncode == 0, bootstrap.stderr[-3000:]
    # THEN `deploy --target aws` runs `cdk deploy` (image asset built and pushed), both stacks
    deploy = cli("deploy", "--yes", "--json", "-c", "memory_mb=1536")
    assert deploy.returncode == 0, deploy.stderr[-3000:]
    result = json.loads(deploy.stdout)
    assert result["target"] == "aws"
    assert sorted(result["changed"]) == [
        "Reintento-rehearsal-ModelStore",
        "Reintento-rehearsal-Service",
    ]
    assert "cdk: " in deploy.stderr  # the CLI's progress is shown
    assert "pushed to cdk-hnb659fds-container-assets" in deploy.stderr
    # (the context reached the stacks)
    function_name = result["outputs"]["function_name"]
    function = json.loads(
        _run(
            [*AWS_CLI, "lambda", "get-function-configuration", "--function-name", function_name],
            env,
            tmp_path,
        ).stdout
    )
    assert function["MemorySize"] == 1536
    # AND the credentials may come from a profile that assumes a role (boto3's chain, through
    # the local STS, which evaluates the role's trust policy): a role that trusts the account
    # and holds only the policy `operator-policy` prints (AWS parity III, item 16), as a team
    # gives its operators; the profile also gives the region
    printed = cli("operator-policy")
    assert printed.returncode == 0, printed.stderr[-2000:]
    policy = json.loads(printed.stdout)
    assert f"arn:aws:states:{settings.region}:{account}:stateMachine:Reintento-rehearsal-batch" in {
        arn for statement in policy["Statement"] for arn in statement["Resource"]
    }
    endpoint = f"http://127.0.0.1:{settings.local_port}"
    iam = Deployed(settings, None, "", endpoint).client("iam")  # type: ignore[arg-type]
    trust = account_trust(account)
    role = iam.create_role(RoleName="operators", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="operators", PolicyName="operator", PolicyDocument=json.dumps(policy)
    )
    (tmp_path / "credentials").write_text(
        f"[keys]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n"
    )
    (tmp_path / "config").write_text(
        f"[profile assumed]\nrole_arn = {role}\nsource_profile = keys\nregion = {settings.region}\n"
    )
    dropped = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION")
    by_profile = {k: v for k, v in env.items() if k not in dropped}
    by_profile["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    by_profile["AWS_CONFIG_FILE"] = str(tmp_path / "config")
    by_profile["AWS_PROFILE"] = "assumed"

    def operator(*args: str) -> subprocess.CompletedProcess[str]:
        return _run([*OPS, *args], by_profile, PROJECT_ROOT)

    # AND a second deploy, through that profile given as --profile (the CDK CLI gets it as
    # AWS_PROFILE, and assumes the bootstrap roles from it), changes the function's memory
    again = _run(
        [*OPS, "deploy", "--profile", "assumed", "--yes", "--json", "-c", "memory_mb=1769"],
        {k: v for k, v in by_profile.items() if k != "AWS_PROFILE"},
        PROJECT_ROOT,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["changed"] == ["Reintento-rehearsal-Service"]
    # AND every verb works with that policy alone, on what the CDK CLI deployed, through the
    # aws code path: upload (signing), realtime, batch, observing
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in ops.sample_rows(1200)))
    for args in (
        ("upload-model", str(demo_model.path)),
        ("predict", "--rows", json.dumps(ops.sample_rows(1)[0])),
        ("run-batch", str(rows)),
        ("status",),
        ("metrics",),
        ("drift",),
        ("logs",),
        ("list-models",),
    ):
        done = operator(*args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
    status = json.loads(operator("status", "--json").stdout)
    assert status["target"] == "aws" and status["model_version"]
    # AND nothing beyond the stage: another bucket of the account is refused to the operator
    # (HOME: the AWS CLI caches a role's credentials there, and a cached key of an earlier
    # local target is unknown to this one)
    refused = _run(
        [
            *AWS_CLI,
            "s3api",
            "list-objects-v2",
            "--bucket",
            f"cdk-hnb659fds-assets-{account}-{settings.region}",
        ],
        {**by_profile, "HOME": str(tmp_path)},
        tmp_path,
    )
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    # AND it signs only with its stage's key: another key of the account is refused to it
    kms = Deployed(settings, None, "", endpoint).client("kms")  # type: ignore[arg-type]
    other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    signed = _run(
        [
            *AWS_CLI,
            "kms",
            "sign",
            "--key-id",
            other["Arn"],
            "--message",
            "aGk=",
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ],
        {**by_profile, "HOME": str(tmp_path)},
        tmp_path,
    )
    assert signed.returncode != 0 and "AccessDenied" in signed.stderr, signed.stderr
    # AND teardown deletes both stacks it deployed, the models and their bucket, and schedules
    # the signing key's deletion
    gone = operator(
        "teardown",
        "--confirm",
        "Reintento-rehearsal-Service",
        "--delete-model-bucket",
        "--confirm-model-store",
        "Reintento-rehearsal-ModelStore",
        "--json",
    )
    assert gone.returncode == 0, gone.stderr[-2000:]
    assert json.loads(gone.stdout)["deleted_stacks"] == [
        "Reintento-rehearsal-Service",
        "Reintento-rehearsal-ModelStore",
    ]
