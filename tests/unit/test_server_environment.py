"""The local target's server takes an allow-list of the operator's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from reintento_local.process import server_environment


def test_the_server_keeps_no_secret_of_the_operators_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an operator's environment with secrets of AWS and of other services
    for name, value in {
        "AWS_SECRET_ACCESS_KEY": "real-aws-secret",
        "AWS_PROFILE": "prod",
        "GITHUB_TOKEN": "ghp_secret",
        "DATABASE_PASSWORD": "hunter2",
        "PIP_FIND_LINKS": "/opt/wheels",
        "PYTHONPATH": "/somewhere/project",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_CORETYPE": "Haswell",
        "REINTENTO_LOGS_INGESTION_SECONDS": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    # WHEN the server's environment is made
    env = server_environment(tmp_path)
    # THEN no secret is in it
    assert not {"AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GITHUB_TOKEN", "DATABASE_PASSWORD"} & set(
        env
    )
    assert "ghp_secret" not in env.values() and "hunter2" not in env.values()
    # AND what it needs is: pip's settings, the path, locale, numeric kernels, its own settings
    assert env["PIP_FIND_LINKS"] == "/opt/wheels"
    assert env["PYTHONPATH"] == "/somewhere/project"
    assert env["LC_ALL"] == "C.UTF-8" and env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["REINTENTO_LOGS_INGESTION_SECONDS"] == "0.5"
    # AND HOME is inside the state folder (no ~/.aws to read)
    assert Path(env["HOME"]).is_relative_to(tmp_path)
