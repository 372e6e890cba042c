"""cdk-nag packs the app is checked against (AwsSolutions and Serverless), and the per-resource
acknowledgements of both scanners (cdk-nag at synth, checkov on the synthesized templates)."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_nag_checks(app: cdk.App) -> None:
    """Run both packs at synth; any unacknowledged finding fails the synth."""
    validations = cdk.Validations.of(app)
    validations.add_plugins(AwsSolutionsChecks(app))
    validations.add_plugins(ServerlessChecks(app))


def acknowledge(construct: IConstruct, *, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on one construct, with the reason it is acceptable.

    The id is namespaced by its pack (``AwsSolutions::AwsSolutions-IAM5[...]``): cdk-nag drops a
    finding acknowledged by its bare id before reporting it, so it would be missing from the
    validation report (``validation-report.json``); with the namespace cdk-nag reports it and
    CDK's validation records it there as suppressed, with this reason."""
    head = rule.split("[", 1)[0]  # a finding's id may hold "::" inside its brackets
    namespaced = rule if "::" in head else f"{head.split('-', 1)[0]}::{rule}"
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=namespaced, reason=reason))


def checkov_skip(construct: IConstruct, *skips: tuple[str, str]) -> None:
    """Acknowledge checkov findings on one resource (its CloudFormation ``Metadata.checkov``),
    each with the reason it is acceptable; checkov reports them as skipped, not passed."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    assert isinstance(resource, cdk.CfnResource), f"{construct.node.path} has no CFN resource"
    # a second call on the same resource adds to its skips (metadata keys are replaced)
    earlier = (resource.get_metadata("checkov") or {}).get("skip", [])
    resource.add_metadata(
        "checkov",
        {"skip": [*earlier, *({"id": rule, "comment": reason} for rule, reason in skips)]},
    )
