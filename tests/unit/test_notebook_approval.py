"""Notebook 01 deploys changes to who may do what only when approved: on AWS, by the person who
runs it (a parameter), never by default."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ops.cli import notebook_value
from ops.modelfiles.versions import PROJECT_ROOT


def _cells() -> list[str]:
    notebook = json.loads((PROJECT_ROOT / "notebooks" / "01_deploy.ipynb").read_text())
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


class _Settings:
    def __init__(self, target: str) -> None:
        self.target = target


@pytest.mark.parametrize(
    ("target", "given", "approved"),
    [
        ("aws", None, False),  # the default on AWS: the deploy lists the changes and stops
        ("aws", True, True),  # -p APPROVE_SECURITY_CHANGES=True after reviewing them
        ("local", None, True),  # the local target: no real account to protect
        ("local", False, False),
    ],
)
def test_security_changes_need_an_explicit_approval_on_aws(
    target: str, given: bool | None, approved: bool
) -> None:
    parameters, *rest = _cells()
    scope: dict[str, Any] = {}
    exec(parameters, scope)
    # GIVEN the notebook's default, or the value the person passed
    assert scope["APPROVE_SECURITY_CHANGES"] is None
    scope["APPROVE_SECURITY_CHANGES"] = given
    # WHEN the deploy cell decides what it passes to ops.deploy
    (deploy,) = [c for c in rest if "approve_security_changes=" in c]
    decided: dict[str, Any] = {}
    scope |= {"settings": _Settings(target), "ops": _Recorder(decided)}
    exec(deploy, scope)
    # THEN it approves only what was approved
    assert decided["approve_security_changes"] is approved


class _Recorder:
    def __init__(self, seen: dict[str, Any]) -> None:
        self.seen = seen

    def deploy(self, **kwargs: Any) -> None:
        self.seen.update(kwargs)


@pytest.mark.parametrize(
    ("text", "value"),
    [("True", True), ("true", True), ("None", None), ("20000", 20000), ("prod", "prod")],
)
def test_run_notebooks_parameters_read_as_the_notebook_writes_them(text: str, value: Any) -> None:
    assert notebook_value(text) == value and type(notebook_value(text)) is type(value)
