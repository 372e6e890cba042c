"""The operator's least-privilege policy (`python -m ops operator-policy`): scoped to one stage.
That it is enough for every verb is shown in tests/integration/test_aws_rehearsal.py, where a
role holding only this policy deploys, operates and tears down on the local target."""

from __future__ import annotations

import json
import subprocess
import sys

from ops.aws.operator_policy import OperatorPolicy, unmatched
from ops.aws.outputs import StackOutputs
from ops.modelfiles.versions import PROJECT_ROOT
from reintento_local.iam_conditions import wildcard_match

ACCOUNT = "111122223333"
# "*" only for actions with no resource-level permissions (Service Authorization Reference),
# and DescribeAlarms, which lists the stage's alarms by name prefix
UNSCOPED = {"lambda:GetAccountSettings", "cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"}


def _allowed(document: dict, action: str, resource: str) -> bool:  # type: ignore[type-arg]
    return any(
        action in statement["Action"]
        and any(wildcard_match(pattern, resource) for pattern in statement["Resource"])
        for statement in document["Statement"]
    )


def test_the_policy_reaches_its_stage_and_nothing_beside_it() -> None:
    document = OperatorPolicy(ACCOUNT, "eu-west-1", "Reintento", "prod").document()
    statements = document["Statement"]
    # GIVEN the policy for stage prod  THEN no action is a wildcard, every statement allows
    actions = [a for s in statements for a in s["Action"]]
    assert all("*" not in a for a in actions) and len(actions) == len(set(actions))
    assert {s["Effect"] for s in statements} == {"Allow"}
    # AND only actions without resource-level permissions get "*"
    assert {a for s in statements if "*" in s["Resource"] for a in s["Action"]} == UNSCOPED
    # AND the stage's own resources are reached, another stage's and account's are not
    fn = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:Reintento-prod-Service-Fn-AB12"
    assert _allowed(document, "lambda:UpdateAlias", f"{fn}:live")
    assert not _allowed(document, "lambda:UpdateAlias", fn.replace("-prod-", "-dev-") + ":live")
    bucket = "arn:aws:s3:::reintento-prod-modelstore-modelbucket-x1/models/m.pkl"
    assert _allowed(document, "s3:PutObject", bucket)
    assert not _allowed(document, "s3:PutObject", bucket.replace("-prod-", "-dev-"))
    machine = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:Reintento-prod-batch"
    assert _allowed(document, "states:StartExecution", machine)
    assert not _allowed(document, "states:StartExecution", machine.replace(ACCOUNT, "9" * 12))
    assert not _allowed(document, "states:StartExecution", machine.replace("eu-west", "us-east"))
    # AND the stage's rollout guard is started, listed, read and stopped; another stage's is not
    guard = machine.replace("-batch", "-rollout-guard")
    for action in ("states:StartExecution", "states:ListExecutions"):
        assert _allowed(document, action, guard)
        assert not _allowed(document, action, guard.replace("-prod-", "-dev-"))
    run = guard.replace(":stateMachine:", ":execution:") + ":from-3-abc"
    assert _allowed(document, "states:StopExecution", run)
    assert _allowed(document, "states:DescribeExecution", run)
    # AND signing only with the keys tagged for this stage (a key's id is generated)
    (kms,) = [s for s in statements if "kms:Sign" in s["Action"]]
    assert kms["Condition"] == {
        "StringEquals": {"aws:ResourceTag/reintento:stage": "Reintento-prod"}
    }
    # AND deploys go through the bootstrap roles: no CloudFormation write but DeleteStack,
    # no IAM, no ECR of the person's own
    assert not [a for a in actions if a.split(":")[0] in ("iam", "ecr")]
    assert {a for a in actions if a.startswith("cloudformation:") and "Describe" not in a} == {
        "cloudformation:ListStackResources",
        "cloudformation:GetTemplate",
        "cloudformation:DeleteStack",
    }
    # AND it fits a managed policy (6,144 characters without whitespace: IAM's quotas)
    assert len(json.dumps(document, separators=(",", ":"))) < 6144


def test_the_cli_prints_it_as_json() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ops", "operator-policy", *args]
        return subprocess.run(
            command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
        )

    printed = run("--account", ACCOUNT, "--stage", "prod", "--region", "eu-west-1")
    assert printed.returncode == 0, printed.stderr
    assert (
        json.loads(printed.stdout)
        == OperatorPolicy(ACCOUNT, "eu-west-1", "Reintento", "prod").document()
    )
    wrong = run("--account", "12")
    assert wrong.returncode == 2 and "12-digit" in wrong.stderr


def test_deployed_names_the_patterns_would_not_reach_are_named() -> None:
    # GIVEN the policy of stage prod and what a deploy named
    policy = OperatorPolicy(ACCOUNT, "eu-west-1", "Reintento", "prod")
    deployed = StackOutputs(
        model_bucket="reintento-prod-modelstore-modelbucketb9306378-x1y2",
        model_key="models/mejor_modelo.pkl",
        batch_bucket="reintento-prod-service-batchbucket057aa9df-a1b2",
        function_name="Reintento-prod-Service-InferenceFunctionCC679B89-AbC1",
        function_arn="arn:aws:lambda:eu-west-1:111122223333:function:x",
        function_log_group="/aws/lambda/Reintento-prod-Service-InferenceFunctionCC679B89-AbC1",
        state_machine_arn="arn:aws:states:eu-west-1:111122223333:stateMachine:Reintento-prod-batch",
        state_machine_log_group="/aws/vendedlogs/states/Reintento-prod-batch",
        dashboard="d",
    )
    # THEN names CloudFormation generated from the stack's name are reached
    assert unmatched(policy, deployed) == []
    # AND a name it shortened is named, with what the policy expects
    from dataclasses import replace

    shortened = replace(deployed, function_name="Reintento-prod-Servi-InferenceFunct-AbC1")
    (missed,) = unmatched(policy, shortened)
    assert "Reintento-prod-Servi-InferenceFunct-AbC1" in missed
    assert "Reintento-prod-Service-" in missed
