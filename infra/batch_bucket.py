"""The batch bucket: where batch inputs are sliced and results written. Short-lived data."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge, checkov_skip
from infra.private_bucket import private_bucket


class BatchBucket(Construct):
    """Private, encrypted, TLS-only bucket whose objects expire after ``expiration_days``.

    Deleted with the service stack; ``ops.teardown`` empties it first (no Node.js custom
    resource, so the same template runs on the local target).
    """

    def __init__(self, scope: Construct, construct_id: str, *, expiration_days: int) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(
            self,
            "Bucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireBatchData",
                    expiration=cdk.Duration.days(expiration_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        checkov_skip(
            self.bucket,
            (
                "CKV_AWS_18",
                "Short-lived batch slices and results (they expire after days), written and "
                "read by the function role and the operator; the model bucket is the audited one.",
            ),
            (
                "CKV_AWS_21",
                "Each run writes under a fresh prefix and nothing is overwritten; versions of "
                "expiring working data would only keep deleted objects longer.",
            ),
        )
        acknowledge(
            self.bucket,
            rule="AwsSolutions-S1",
            reason="Short-lived batch slices and results (expire after days), written and read "
            "only by the function role and the operator; access logs would need another bucket.",
        )
