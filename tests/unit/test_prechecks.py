"""Deploy prechecks on AWS: each failure says what to do (AWS parity II, item 13)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ops.aws import prechecks
from ops.errors import AccessDeniedError, DeployError


class _Ssm:
    """Answers GetParameter with a value or an error code, as SSM does."""

    def __init__(self, value: str | None = None, code: str | None = None) -> None:
        self.value, self.code = value, code

    def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's spelling
        assert Name == prechecks.BOOTSTRAP_PARAMETER
        if self.code:
            raise ClientError({"Error": {"Code": self.code, "Message": "x"}}, "GetParameter")
        return {"Parameter": {"Value": self.value}}


def test_bootstrap_missing_denied_old_and_fine() -> None:
    with pytest.raises(
        DeployError, match=r"make cdk ARGS='bootstrap aws://111122223333/eu-west-1'"
    ):
        prechecks.check_bootstrap(_Ssm(code="ParameterNotFound"), "111122223333", "eu-west-1")
    # an AccessDenied is not "not bootstrapped": it names the permission instead
    with pytest.raises(AccessDeniedError, match="ssm:GetParameter") as denied:
        prechecks.check_bootstrap(_Ssm(code="AccessDeniedException"), "111122223333", "eu-west-1")
    assert "not CDK-bootstrapped" not in str(denied.value)
    with pytest.raises(DeployError, match=r"version 5.*6 or later"):
        prechecks.check_bootstrap(_Ssm("5"), "111122223333", "eu-west-1")
    assert prechecks.check_bootstrap(_Ssm("28"), "111122223333", "eu-west-1") == 28


def _fake_docker(folder: Path, info_exit: int, platforms: str) -> None:
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = info ]; then [ {info_exit} = 0 ] && echo 27.0.1; '
        f"[ {info_exit} = 0 ] || echo 'Cannot connect to the Docker daemon' >&2; "
        f"exit {info_exit}; fi\n"
        f'if [ "$1" = buildx ]; then echo "default docker running {platforms}"; exit 0; fi\n'
        "exit 2\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_docker_daemon_and_emulation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeployError, match="install Docker"):
        prechecks.check_docker("x86_64")
    # a docker binary whose daemon does not answer
    _fake_docker(tmp_path, 1, "linux/amd64")
    with pytest.raises(DeployError, match="daemon is not running"):
        prechecks.check_docker("x86_64")
    # a daemon that answers: fine for the host's architecture
    _fake_docker(tmp_path, 0, "linux/amd64")
    prechecks.check_docker("x86_64" if not prechecks.host_is_arm() else "arm64")
    if not prechecks.host_is_arm():
        # arm64 on an x86 host: only with emulation the builder lists
        with pytest.raises(DeployError, match="tonistiigi/binfmt"):
            prechecks.check_docker("arm64")
        _fake_docker(tmp_path, 0, "linux/amd64, linux/arm64")
        prechecks.check_docker("arm64")
    assert os.environ["PATH"] == str(tmp_path)


class _Lambda:
    """Answers GetAccountSettings as Lambda does for an account with ``limit`` concurrency."""

    def __init__(self, limit: int, unreserved: int | None = None) -> None:
        self.limit, self.unreserved = limit, limit if unreserved is None else unreserved

    def get_account_settings(self) -> dict[str, Any]:
        return {
            "AccountLimit": {
                "ConcurrentExecutions": self.limit,
                "UnreservedConcurrentExecutions": self.unreserved,
            }
        }


def test_account_concurrency_against_what_the_stacks_reserve_and_the_batch_runs() -> None:
    # GIVEN a new account (quota 10)  THEN a reservation is refused before the deploy (Lambda
    # keeps 100 unreserved), naming the quota to request and the context to drop
    with pytest.raises(DeployError, match=r"Concurrent executions.*reserved_concurrency") as err:
        prechecks.check_concurrency(_Lambda(10), reserved=5, max_concurrency=8)
    assert "10" in str(err.value)
    # AND without a reservation it passes, saying when batches would be throttled
    assert "throttled" in prechecks.check_concurrency(
        _Lambda(10), reserved=None, max_concurrency=16
    )
    assert "throttled" not in prechecks.check_concurrency(_Lambda(1000), None, 8)
    # AND an account with room takes the reservation
    assert "1,000" in prechecks.check_concurrency(_Lambda(1000), reserved=5, max_concurrency=8)


def test_an_aws_dry_run_runs_the_read_only_prechecks_and_reports_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no AWS credentials at all and no Docker on the PATH
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PATH", str(tmp_path))
    import ops

    # WHEN the deploy is dry-run against AWS
    plan = ops.deploy(settings=ops.Settings.resolve(target="aws", region="eu-west-1"), dry_run=True)
    # THEN each precheck a real deploy runs is reported, and the plan is not ok
    checks = dict(plan.checks)
    assert set(checks) == {
        "Node.js for the CDK",
        "credentials",
        "CDK bootstrap",
        "Docker",
        "account concurrency",
    }
    assert checks["Node.js for the CDK"] == "ok: Node 22"  # the pinned one, whatever PATH has
    assert "no AWS credentials" in checks["credentials"]
    assert checks["CDK bootstrap"].startswith("not checked")
    assert "install Docker" in checks["Docker"]
    assert not plan.ok and "no AWS credentials" in str(plan)
    # AND from the command line it is a refusal (exit 2), not a plan that would work
    from ops import cli

    assert cli.main(["deploy", "--target", "aws", "--region", "eu-west-1", "--dry-run"]) == 2


def test_a_local_dry_run_checks_nothing_and_starts_nothing() -> None:
    import ops

    plan = ops.deploy(dry_run=True)
    assert plan.checks == () and plan.ok
