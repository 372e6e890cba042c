"""The rollout guard: a workflow beside the function that ends a rollout whose controller stopped.

``ops`` judges a rollout while it bakes (``ops/service/rollout.py``) and, before it sends the new
version its first calls, starts an execution of this state machine with the rollout's versions
and a deadline: the bake's planned end and a grace. The guard waits until then (a Wait state
costs nothing while it waits), reads the live alias, and if the old version is still its primary
(the controller never promoted, so a split it made may remain) moves every call back to the old
version, with the alias's ``RevisionId`` so a move someone made meanwhile is never overwritten.
A controller that ends its rollout stops the guard; one that died (a laptop closed, a CI job
killed) leaves it to end the rollout. Its executions also hold the stage's lock: while one runs,
``ops`` refuses another rollout or upload, naming it.

Step Functions' ``Wait`` with ``SecondsPath`` and the ``lambda:getAlias``/``updateAlias`` SDK
integrations:
https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html,
https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.log_retention import retention
from infra.nag import acknowledge, checkov_skip
from infra.settings import StackSettings
from infra.step_functions import logs_and_traces
from reintento_function import contract

# a rollout's bakes and the guard's grace end within this (ops refuses longer plans)
TIMEOUT = cdk.Duration.hours(contract.GUARD_TIMEOUT_HOURS)


class RolloutGuard(Construct):
    """The guard's state machine, its role (read and move the live alias only) and its logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        name = contract.rollout_guard_name(settings.stack_prefix, settings.stage)
        alias_arn = f"{function.function_arn}:{contract.LIVE_ALIAS}"
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=retention(settings.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="The rollout guard: read the live alias and move it back",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,  # named: the operator's policy names it
            definition_body=sfn.DefinitionBody.from_chainable(
                self._definition(function, alias_arn)
            ),
            role=role.without_policy_updates(),
            timeout=TIMEOUT,
            tracing_enabled=True,
            # the state holds versions and a time, no data: every event is logged
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            comment="Ends a model rollout whose controller stopped: every call back on the old "
            "version at the deadline",
        )
        policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                # the alias actions authorize on the function's ARN (the Service Authorization
                # Reference's "function" resource type); the alias's ARN is listed for clarity
                iam.PolicyStatement(
                    sid="ReadAndMoveTheLiveAlias",
                    actions=["lambda:GetAlias", "lambda:UpdateAlias"],
                    resources=[function.function_arn, alias_arn],
                ),
                *logs_and_traces(),
            ],
        )
        self.state_machine.node.add_dependency(policy)
        checkov_skip(
            self.log_group,
            (
                "CKV_AWS_158",
                "CloudWatch Logs encrypts log data at rest with its own keys; the guard logs "
                "function versions and times only.",
            ),
        )
        acknowledge(
            policy,
            rule="AwsSolutions-IAM5[Resource::*]",
            reason="CloudWatch Logs delivery and X-Ray actions of Step Functions support no "
            "resource-level permissions.",
        )

    def _definition(self, function: lambda_.IFunction, alias_arn: str) -> sfn.IChainable:
        wait = sfn.Wait(
            self,
            "UntilTheDeadline",
            time=sfn.WaitTime.seconds_path(f"$.{contract.GUARD_WAIT_SECONDS}"),
        )
        read = tasks.CallAwsService(
            self,
            "ReadTheLiveAlias",
            service="lambda",
            action="getAlias",
            parameters={
                "FunctionName": function.function_name,  # this stage's, whatever the input
                "Name": contract.LIVE_ALIAS,
            },
            iam_resources=[function.function_arn, alias_arn],
            result_selector={
                "FunctionVersion": sfn.JsonPath.string_at("$.FunctionVersion"),
                "RevisionId": sfn.JsonPath.string_at("$.RevisionId"),
            },
            result_path=f"$.{contract.GUARD_FOUND}",
        )
        route_back = tasks.CallAwsService(
            self,
            "EveryCallBackOnTheOldVersion",
            service="lambda",
            action="updateAlias",
            parameters={
                "FunctionName": function.function_name,
                "Name": contract.LIVE_ALIAS,
                "FunctionVersion": sfn.JsonPath.string_at(f"$.{contract.GUARD_OLD_VERSION}"),
                "RoutingConfig": {"AdditionalVersionWeights": {}},
                # a move someone made since the read fails instead of being overwritten
                "RevisionId": sfn.JsonPath.string_at(f"$.{contract.GUARD_FOUND}.RevisionId"),
            },
            iam_resources=[function.function_arn, alias_arn],
            result_selector={"RevisionId": sfn.JsonPath.string_at("$.RevisionId")},
            result_path=f"$.{contract.GUARD_ROUTED}",
        )
        nothing = sfn.Succeed(self, "NothingToEnd", comment="the new version is primary")
        ended = sfn.Succeed(self, "RolledBack")
        old_is_primary = sfn.Condition.string_equals_json_path(
            f"$.{contract.GUARD_FOUND}.FunctionVersion", f"$.{contract.GUARD_OLD_VERSION}"
        )
        return wait.next(read).next(
            sfn.Choice(self, "OldVersionStillPrimary")
            .when(old_is_primary, route_back.next(ended))
            .otherwise(nothing)
        )
