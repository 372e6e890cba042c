"""The model store: a private, encrypted, versioned S3 bucket that outlives the service."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import names
from infra.nag import acknowledge


class ModelStore(Construct):
    """S3 bucket for model files: public access blocked, SSE-S3, versioned, TLS only.

    Old (noncurrent) model versions expire after ``noncurrent_version_days``; the current one
    never does. The bucket is RETAINed: deleting the stack never deletes models.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, noncurrent_version_days: int
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldModelVersions",
                    noncurrent_version_expiration=cdk.Duration.days(noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.override_logical_id(names.MODEL_BUCKET_LOGICAL_ID)
        # The deployer signs each model's manifest with this key at upload (kms:Sign, allowed to
        # the account's IAM principals by the default key policy); the function may only verify.
        # RETAINed with the bucket, so the signatures of kept models stay verifiable.
        self.signing_key = kms.Key(
            self,
            "SigningKey",
            description="Signs the model manifests that the inference function verifies",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            rule="AwsSolutions-S1",
            reason="Model reads are by the function role only (IAM + TLS policy); server access "
            "logs would need a second bucket per deployment. Enable CloudTrail S3 data events "
            "for an audit trail.",
        )
