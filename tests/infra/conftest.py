"""Synthesize the app once per session (with cdk-nag), and expose its templates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.nag import add_nag_checks
from infra.settings import StackSettings

SETTINGS = StackSettings(
    stage="test",
    memory_mb=2048,
    timeout_seconds=20,
    architecture="arm64",
    reserved_concurrency=5,
    max_concurrency=6,
    tolerated_failure_percentage=25,
    log_retention_days=14,
    alarm_email="ops@example.com",
)


@dataclass(frozen=True)
class Synth:
    settings: StackSettings
    outdir: Path
    model: Template
    service: Template

    def raw(self, stack_name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.outdir / f"{stack_name}.template.json").read_text())
        return data


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """GIVEN the app synthesized with non-default settings and both cdk-nag packs."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir))
    build_app(SETTINGS, app)
    add_nag_checks(app)
    assembly = app.synth()  # raises ValidationFailed on any unacknowledged cdk-nag finding
    model = assembly.get_stack_by_name(SETTINGS.model_stack_name).template
    service = assembly.get_stack_by_name(SETTINGS.service_stack_name).template
    return Synth(SETTINGS, outdir, Template.from_json(model), Template.from_json(service))


def render(value: Any) -> str:
    """A CloudFormation value as one string: tokens shown as ${Ref}, ${Logical.Attr}, ${Import}."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        return "".join(render(part) for part in value["Fn::Join"][1])
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if "Fn::ImportValue" in value:
        return "${Import}"
    return "${?}"
