"""The least-privilege IAM policy a person needs to run every verb on one stage.

Deploys go through the CDK's modern bootstrap roles (the CLI assumes them, and the stacks are
changed with the bootstrap's CloudFormation execution role), so the person needs no
CloudFormation write, IAM or ECR permission of their own: only ``sts:AssumeRole`` on those roles
(https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html, "Bootstrap resources"), and
``DeleteStack`` for teardown, which CloudFormation carries out with the role the stack was
deployed with (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html).
Everything else is the verbs' own calls, on the stage's resources only: the stacks' generated
physical names start with the stack's name (S3 bucket names lowercased), the state machine and
its log group are named ``<prefix>-<stage>-batch``. The signing key's id is generated: the KMS
statement matches the key by the stage tag the model stack puts on it (attribute-based access).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.aws.outputs import StackOutputs
from reintento_function import contract

BOOTSTRAP_QUALIFIER = "hnb659fds"  # the CDK's default (the project does not change it)
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")


@dataclass(frozen=True)
class OperatorPolicy:
    """The policy document for ``account``, ``region`` and one stage."""

    account: str
    region: str
    stack_prefix: str
    stage: str

    def _arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account}:{resource}"

    def document(self) -> dict[str, Any]:
        statements = [
            *self._deploying(),
            *self._operating(),
            self._signing(),
            *self._observing(),
        ]
        return {"Version": "2012-10-17", "Statement": statements}

    @property
    def _stacks(self) -> tuple[str, str]:
        model_stack, service_stack = contract.stack_names(self.stack_prefix, self.stage)
        return model_stack, service_stack

    def _deploying(self) -> list[dict[str, Any]]:
        """Deploy through the bootstrap roles; read the stacks; delete them (teardown)."""
        roles = [
            self._arn(
                "iam",
                f"role/cdk-{BOOTSTRAP_QUALIFIER}-{role}-role-{self.account}-{self.region}",
                region=False,
            )
            for role in BOOTSTRAP_ROLES
        ]
        version = f"parameter/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version"
        return [
            _allow("DeployThroughTheCdkBootstrapRoles", ["sts:AssumeRole"], roles),
            _allow("CheckTheBootstrapVersion", ["ssm:GetParameter"], [self._arn("ssm", version)]),
            _allow(
                "ReadAndDeleteTheStacks",
                [
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:ListStackResources",
                    "cloudformation:GetTemplate",
                    "cloudformation:DeleteStack",
                ],
                [self._arn("cloudformation", f"stack/{stack}/*") for stack in self._stacks],
            ),
            _allow("CheckTheAccountsConcurrency", ["lambda:GetAccountSettings"], ["*"]),
        ]

    def _operating(self) -> list[dict[str, Any]]:
        """Upload (sign), roll out, predict, run batches; empty the buckets at teardown."""
        functions = self._arn("lambda", f"function:{self._stacks[1]}-*")
        buckets = [f"arn:aws:s3:::{stack.lower()}-*" for stack in self._stacks]
        machine = contract.batch_name(self.stack_prefix, self.stage)
        guard = contract.rollout_guard_name(self.stack_prefix, self.stage)
        return [
            _allow(
                "OperateTheFunction",
                [
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:PublishVersion",
                    "lambda:ListVersionsByFunction",
                    "lambda:GetAlias",
                    "lambda:CreateAlias",
                    "lambda:UpdateAlias",
                    "lambda:InvokeFunction",
                ],
                [functions, f"{functions}:*"],
            ),
            _allow(
                "ModelsBatchesAndTheirTeardown",
                [
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:ListBucket",
                    "s3:ListBucketVersions",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:DeleteBucket",
                ],
                [*buckets, *(f"{bucket}/*" for bucket in buckets)],
            ),
            # batches, and the rollout guard: a rollout starts it and stops it when it ends, an
            # upload looks for one running (ops/service/rollout_guard.py)
            _allow(
                "RunAndStopBatches",
                ["states:StartExecution", "states:ListExecutions"],
                [self._arn("states", f"stateMachine:{name}") for name in (machine, guard)],
            ),
            _allow(
                "WatchBatches",
                ["states:DescribeExecution", "states:StopExecution", "states:ListMapRuns"],
                [self._arn("states", f"execution:{name}:*") for name in (machine, guard)],
            ),
            # teardown waits for a stopped batch's children: a Map Run's ARN is
            # mapRun:<machine>/<label>:<id> (the Service Authorization Reference's mapRun type)
            _allow(
                "WatchBatchChildren",
                ["states:DescribeMapRun"],
                [self._arn("states", f"mapRun:{machine}/*")],
            ),
        ]

    def _signing(self) -> dict[str, Any]:
        """Sign models and run tickets, verify records, schedule the key's deletion."""
        return {
            **_allow(
                "SignModelsAndRunsVerifyRecords",
                ["kms:Sign", "kms:Verify", "kms:DescribeKey", "kms:ScheduleKeyDeletion"],
                [self._arn("kms", "key/*")],
            ),
            # a key's id is generated: the stage's signing key is the one tagged for it
            # https://docs.aws.amazon.com/kms/latest/developerguide/abac.html
            "Condition": {
                "StringEquals": {
                    f"aws:ResourceTag/{contract.STAGE_TAG}": contract.stage_tag(
                        self.stack_prefix, self.stage
                    )
                }
            },
        }

    def _observing(self) -> list[dict[str, Any]]:
        """Logs, metrics and alarms."""
        service_stack = self._stacks[1]
        machine = contract.batch_name(self.stack_prefix, self.stage)
        return [
            _allow(
                "ReadTheLogs",
                ["logs:FilterLogEvents"],
                [
                    self._arn("logs", f"log-group:{service_stack}-*:*"),
                    self._arn("logs", f"log-group:/aws/lambda/{service_stack}-*:*"),
                    self._arn("logs", f"log-group:/aws/vendedlogs/states/{machine}:*"),
                ],
            ),
            # GetMetricData has no resource-level permissions; status lists the alarms by the
            # stack's name prefix (their names are generated), which "*" covers
            _allow(
                "ReadTheMetricsAndAlarms",
                ["cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"],
                ["*"],
            ),
        ]


def unmatched(policy: OperatorPolicy, outputs: StackOutputs) -> list[str]:
    """The deployed resources whose names the policy's patterns do not reach (CloudFormation
    shortens a generated name past its service's limit, in a way it does not document)."""
    model_stack, service_stack = contract.stack_names(policy.stack_prefix, policy.stage)
    expected = (
        ("function", outputs.function_name, f"{service_stack}-"),
        ("model bucket", outputs.model_bucket, f"{model_stack.lower()}-"),
        ("batch bucket", outputs.batch_bucket, f"{service_stack.lower()}-"),
        ("log group", outputs.function_log_group, f"{service_stack}-"),
    )
    return [
        f"the {what} {name} (the policy expects a name starting {prefix})"
        for what, name, prefix in expected
        if name and not name.removeprefix("/aws/lambda/").startswith(prefix)
    ]


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
