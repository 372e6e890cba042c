"""The model store: a private, encrypted, versioned S3 bucket that outlives the service."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import names
from infra.nag import acknowledge, checkov_skip
from infra.private_bucket import private_bucket
from reintento_function import contract

ACCESS_LOG_DAYS = 365
ACCESS_LOG_PREFIX = "model-bucket/"


class ModelStore(Construct):
    """S3 bucket for model files: public access blocked, SSE-S3, versioned, TLS only.

    No model version expires: after a rollback (or a rolled-back canary) the live model is a
    noncurrent version, and a NoncurrentVersionExpiration rule would delete it while every new
    execution environment still needs it (a silent outage months later). Models are small;
    ``teardown --delete-model-bucket`` deletes them all. The bucket is RETAINed: deleting the
    stack never deletes models.

    Every request on it is recorded by S3 server access logging (who read which model object
    and version, when, from where) in a second private bucket, kept ``ACCESS_LOG_DAYS`` and
    RETAINed too. Chosen over CloudTrail S3 data events: no trail to run or pay for per event
    ($0.10 per 100,000), and the bucket is the only thing audited. The cost is best-effort
    delivery, usually within a few hours (see the S3 User Guide, "Logging requests with server
    access logging").
    """

    def __init__(self, scope: Construct, construct_id: str, *, stage_tag: str) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = private_bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=cdk.Duration.days(ACCESS_LOG_DAYS),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
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
        # the operator's policy signs only with keys of its stage (`ops operator-policy`)
        cdk.Tags.of(self.signing_key).add(contract.STAGE_TAG, stage_tag)
        acknowledge(
            self.access_logs,
            rule="AwsSolutions-S1",
            reason="The access-log bucket itself: S3's logging service writes it; logging it "
            "into itself would log every delivery (AWS advises against it).",
        )
        checkov_skip(
            self.access_logs,
            ("CKV_AWS_18", "The access-log bucket itself; it must not log into itself."),
            (
                "CKV_AWS_21",
                "Each log object is written once by S3's logging service and expires after "
                f"{ACCESS_LOG_DAYS} days; nothing overwrites it.",
            ),
        )
