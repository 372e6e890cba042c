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
    with pytest.raises(DeployError, match=r"npx cdk bootstrap aws://111122223333/eu-west-1"):
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
