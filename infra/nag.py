"""cdk-nag packs the app is checked against (AwsSolutions and Serverless)."""

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
    """Acknowledge one cdk-nag finding on one construct, with the reason it is acceptable."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
