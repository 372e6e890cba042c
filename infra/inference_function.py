"""The inference function: the container image built from ``lambda/``, its role and log group."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import names
from infra.log_retention import retention
from infra.nag import acknowledge, checkov_skip
from infra.settings import StackSettings
from reintento_function import contract

LAMBDA_DIR = Path(__file__).resolve().parent.parent / "lambda"
IMAGE_EXCLUDES = ["__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache"]


def image_sklearn(lock: Path) -> str:
    """The scikit-learn version the image's lock installs (what models it can serve)."""
    found = re.search(r"^scikit-learn==(\S+)", lock.read_text(), re.MULTILINE)
    if found is None:
        raise ValueError(f"{lock} pins no scikit-learn; regenerate it (make lock)")
    return found.group(1)


class InferenceFunction(Construct):
    """``DockerImageFunction`` with least-privilege access to the model object and batch slices."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        model_bucket: s3.IBucket,
        signing_key: kms.IKey,
        batch_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        arm = settings.architecture == "arm64"
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=retention(settings.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Inference function: read the model object and batch slices, write results",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadModelObject",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                # the model, its manifest (the training profile drift is counted against, the
                # engine that serves it) and its compiled form (the ONNX engine's)
                resources=[
                    model_bucket.arn_for_objects(settings.model_key),
                    model_bucket.arn_for_objects(contract.model_manifest_key(settings.model_key)),
                    model_bucket.arn_for_objects(contract.model_onnx_key(settings.model_key)),
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="VerifyModelSignature",
                actions=["kms:Verify"],
                resources=[signing_key.key_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadBatchInput",
                actions=["s3:GetObject"],
                resources=[
                    batch_bucket.arn_for_objects(names.BATCH_INPUT_PATTERN),
                    batch_bucket.arn_for_objects(names.BATCH_TICKET_PATTERN),
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteBatchOutput",
                actions=["s3:PutObject"],
                resources=[
                    batch_bucket.arn_for_objects(names.BATCH_OUTPUT_PATTERN),
                    batch_bucket.arn_for_objects(names.BATCH_DRIFT_PATTERN),
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=lambda_.DockerImageCode.from_image_asset(
                str(LAMBDA_DIR),
                platform=ecr_assets.Platform.LINUX_ARM64
                if arm
                else ecr_assets.Platform.LINUX_AMD64,
                exclude=IMAGE_EXCLUDES,
            ),
            description="Serves the scikit-learn model of the model bucket: realtime and batch",
            architecture=lambda_.Architecture.ARM_64 if arm else lambda_.Architecture.X86_64,
            memory_size=settings.memory_mb,
            timeout=cdk.Duration.seconds(settings.timeout_seconds),
            reserved_concurrent_executions=settings.reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                contract.ENV_MODEL_BUCKET: model_bucket.bucket_name,
                contract.ENV_MODEL_KEY: settings.model_key,
                contract.ENV_SIGNING_KEY: signing_key.key_arn,
                contract.ENV_STAGE: settings.stage,
                contract.ENV_BATCH_BUCKET: batch_bucket.bucket_name,
                contract.ENV_RUNTIME_SKLEARN: image_sklearn(LAMBDA_DIR / "requirements.lock"),
                contract.ENV_MODEL_REFRESH_SECONDS: str(settings.model_refresh_seconds),
                contract.ENV_MAX_ROWS: str(settings.max_rows),
                # native thread pools sized to the vCPUs Lambda gives this memory (one per
                # 1,769 MB), so environments do not oversubscribe their cores
                **{var: str(_vcpus(settings.memory_mb)) for var in THREAD_VARS},
                "POWERTOOLS_SERVICE_NAME": names.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": names.METRICS_NAMESPACE,
            },
        )
        # Without s3:ListBucket a missing key is answered 403, and "no model yet" would read as
        # "access denied". Listing only the model key itself (s3:prefix) lets the function ask
        # ListObjectsV2 whether the key exists when a read is denied, the condition key's
        # documented use; S3 may also answer the read 404 then, which is not documented.
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions)
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListModelKeyOnly",
                actions=["s3:ListBucket"],
                resources=[model_bucket.bucket_arn],
                conditions={"StringEquals": {"s3:prefix": settings.model_key}},
            )
        )
        checkov_skip(
            self.function,
            (
                "CKV_AWS_116",
                "Invoked synchronously only (realtime Invoke and Step Functions tasks, which "
                "retry and catch); there is no asynchronous path whose events a DLQ would keep.",
            ),
            (
                "CKV_AWS_117",
                "It reaches only S3, KMS and CloudWatch, through their public AWS endpoints over "
                "TLS with its role; a VPC would need a NAT gateway or interface endpoints (about "
                "$7 a month each per AZ) and protects nothing here.",
            ),
            (
                "CKV_AWS_173",
                "The environment holds no secret (bucket name, model key and version, thread "
                "counts); Lambda encrypts it at rest with an AWS managed key.",
            ),
        )
        if settings.reserved_concurrency is None:
            # Lambda lets an account reserve at most its unreserved concurrency minus 100
            # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html):
            # on a new account whose quota is 10, any reservation makes the deploy fail
            checkov_skip(
                self.function,
                (
                    "CKV_AWS_115",
                    "No reservation by default: Lambda keeps 100 of the account's concurrency "
                    "unreserved, so on a new account (quota 10) a reservation fails the deploy; "
                    "the batch's max_concurrency bounds batch scale, and the reserved_concurrency "
                    "context sets a limit where the account allows one.",
                ),
            )
        checkov_skip(
            self.log_group,
            (
                "CKV_AWS_158",
                "CloudWatch Logs encrypts log data at rest with its own keys; a customer managed "
                "key would cost $1 a month per stage and need a key policy for the logs service, "
                "to protect REPORT lines, request ids and error messages (no input rows).",
            ),
        )
        acknowledge(
            self.function,
            rule="Serverless-LambdaDLQ",
            reason="Invoked synchronously only (realtime Invoke and Step Functions tasks, which "
            "retry and catch); there is no asynchronous path whose events a DLQ would keep.",
        )
        policy = self.role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        for pattern in (
            names.BATCH_INPUT_PATTERN,
            names.BATCH_OUTPUT_PATTERN,
            names.BATCH_DRIFT_PATTERN,
        ):
            acknowledge(
                policy,
                rule=f"AwsSolutions-IAM5[Resource::<{_ref(batch_bucket)}>/{pattern}]",
                reason="Batch runs get a fresh prefix each; the run id is fixed-length (`?`) "
                "and the wildcard is limited to the input (read), output or drift (write) "
                "folder of the batch bucket, so the patterns never match the same key.",
            )
        acknowledge(
            policy,
            rule="AwsSolutions-IAM5[Resource::*]",
            reason="X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level "
            "permissions (added by tracing=ACTIVE).",
        )


THREAD_VARS = (contract.ENV_CPU_THREADS, "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MB_PER_VCPU = 1769  # "Lambda allocates CPU power in proportion to memory" (Lambda developer guide)


def _vcpus(memory_mb: int) -> int:
    return max(1, min(6, memory_mb // MB_PER_VCPU))


def _ref(bucket: s3.IBucket) -> str:
    """The logical ID cdk-nag shows for the bucket's ARN in a finding."""
    node = bucket.node.default_child
    assert isinstance(node, cdk.CfnResource)
    return cdk.Stack.of(bucket).get_logical_id(node) + ".Arn"
