"""cdk-nag (in the synth fixture), cfn-lint, and the documented `cdk synth` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from infra.app import build_app
from infra.nag import add_nag_checks
from infra.settings import settings_from_context
from ops.aws import node
from ops.modelfiles.versions import PROJECT_ROOT
from tests.infra.conftest import Synth


def test_nag_finds_nothing_unacknowledged(synth: Synth) -> None:
    # GIVEN the synth fixture ran both packs  THEN its report (if any) has no violations
    report = synth.outdir / "validation-report.json"
    if report.exists():
        data = json.loads(report.read_text())
        violations = [v for p in data.get("pluginReports", []) for v in p.get("violations", [])]
        assert violations == []


def test_validation_report_lists_each_packs_acknowledged_findings(synth: Synth) -> None:
    # GIVEN the synth fixture's validation report
    data = json.loads((synth.outdir / "validation-report.json").read_text())
    reports = {p["pluginName"]: p for p in data["pluginReports"]}
    # THEN both packs are in it (AwsSolutions' acknowledgements were missing: cdk-nag dropped a
    # finding acknowledged by its bare id before reporting it), each finding with its reason
    assert set(reports) == {"AwsSolutions", "Serverless"}
    for report in reports.values():
        assert report["conclusion"] == "success" and report["violations"] == []
        for finding in report["suppressedViolations"]:
            assert len(finding["reason"]) > 40, finding["ruleName"]
            assert len(finding["violatingConstructs"]) == 1, finding["ruleName"]  # one resource
    aws = {f["ruleName"].split("[")[0] for f in reports["AwsSolutions"]["suppressedViolations"]}
    assert {"AwsSolutions-IAM5", "AwsSolutions-S1", "AwsSolutions-SF1"} <= aws


def test_nag_would_fail_an_unprotected_bucket(tmp_path: Path) -> None:
    # GIVEN an app with a bare bucket  THEN the same checks fail the synth (they are live)
    app = cdk.App(outdir=str(tmp_path))
    s3.Bucket(cdk.Stack(app, "Bare"), "B")
    add_nag_checks(app)
    with pytest.raises(Exception, match="AwsSolutions-S10"):
        app.synth()


CHECKOV = PROJECT_ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"


def _checkov(folder: Path) -> dict[str, Any]:
    """checkov on the CloudFormation templates of a folder, offline (no platform, no download)."""
    assert CHECKOV.exists(), "checkov's environment is missing: run `make setup`"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BC_", "CKV_"))}
    env["BC_SKIP_MAPPING"] = "TRUE"  # no mapping download
    command = [str(CHECKOV), "-d", str(folder), "--framework", "cloudformation"]
    done = subprocess.run(
        [*command, "--skip-download", "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_checkov_finds_nothing_unacknowledged(synth: Synth) -> None:
    # GIVEN both synthesized templates, scanned by a second IaC scanner
    scanned = _checkov(synth.outdir)
    # THEN nothing fails, and every acknowledgement is on one resource with its reason
    failed = [(f["check_id"], f["resource"]) for f in scanned["results"]["failed_checks"]]
    assert failed == []
    skipped = scanned["results"]["skipped_checks"]
    assert scanned["summary"]["passed"] > 50 and skipped
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) > 40, check["check_id"]
    # AND the model bucket is not among them: its reads are logged (server access logs)
    assert "AWS::S3::Bucket.ModelBucket" not in {c["resource"] for c in skipped}


def test_checkov_would_fail_an_unlogged_bucket(tmp_path: Path) -> None:
    # GIVEN a template with a bare bucket  THEN checkov's checks are live (and run offline)
    template = {"Resources": {"Bare": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
    (tmp_path / "bare.template.json").write_text(json.dumps(template))
    failed = {f["check_id"] for f in _checkov(tmp_path)["results"]["failed_checks"]}
    assert "CKV_AWS_18" in failed  # access logging


def test_cfn_lint_is_clean(synth: Synth) -> None:
    templates = [
        str(synth.outdir / f"{n}.template.json")
        for n in (synth.settings.model_stack_name, synth.settings.service_stack_name)
    ]
    # W3005 (redundant DependsOn) is how CDK orders a role's policy before its user: not a defect.
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    done = subprocess.run(
        [cfn_lint, "--ignore-checks", "W3005", "--", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_documented_cdk_synth_works_without_docker_or_credentials(tmp_path: Path) -> None:
    # GIVEN no Docker and no AWS credentials
    npx = shutil.which("npx")
    assert npx, "Node.js with npm is required (README)"
    env = {k: v for k, v in node.environment().items() if not k.startswith("AWS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # as `make synth`
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    env["CDK_DOCKER"] = str(tmp_path / "no-docker")
    # WHEN `npx cdk synth -q` runs in infra/ (the README's command)
    done = subprocess.run(
        [npx, "--no-install", "cdk", "synth", "-q", "--output", str(tmp_path / "out")],
        cwd=PROJECT_ROOT / "infra",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # THEN both templates are written
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "Reintento-dev-Service.template.json").exists()
    assert (tmp_path / "out" / "Reintento-dev-ModelStore.template.json").exists()


@pytest.mark.parametrize(
    "context",
    [{}, {"architecture": "arm64", "alarm_email": "ops@example.com"}],
    ids=["defaults", "documented-options"],
)
def test_checkov_finds_nothing_unacknowledged_in_what_users_deploy(
    tmp_path: Path, context: dict[str, str]
) -> None:
    # GIVEN the app as `make synth` and deploy build it: the default context (no reserved
    # concurrency), and the documented options users set
    app = cdk.App(outdir=str(tmp_path))
    build_app(settings_from_context(context), app)
    app.synth()
    # THEN checkov fails nothing there either (each acknowledgement says why)
    scanned = _checkov(tmp_path)
    failed = [(f["check_id"], f["resource"]) for f in scanned["results"]["failed_checks"]]
    assert failed == []
    assert scanned["summary"]["passed"] > 50
