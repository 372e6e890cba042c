"""The batch pipeline: a Step Functions Map over S3 slices, predicted by the inference function.

Rows never travel in the state payload: the execution input lists work items (S3 keys of JSONL
slices and their row counts), each item is predicted by the function, which writes its results
back to S3, and a last step totals the counts. Transient faults are retried with backoff;
permanent refusals are not; a work item that still fails is caught and reported with its rows
counted as failed, so one bad slice never loses the others.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import names
from infra.log_retention import retention
from infra.nag import acknowledge
from infra.settings import StackSettings


class BatchPipeline(Construct):
    """Batch bucket + state machine (Map with MaxConcurrency, Retry, Catch per item)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        function: lambda_.IFunction,
        batch_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        # every slice (and the summary) invokes the one function version the batch started
        # with (the `live` alias resolved by ops): one model for the whole batch
        version = sfn.JsonPath.string_at("$.function_version")
        predict = tasks.LambdaInvoke(
            self,
            "PredictSlice",
            lambda_function=function,
            qualifier=version,
            payload=sfn.TaskInput.from_object({"batch_slice.$": "$.batch_slice"}),
            result_selector={"result.$": "$.Payload"},
            output_path="$.result",
            retry_on_service_exceptions=False,
        )
        _retry_transient(predict)
        slice_failed = sfn.Pass(
            self,
            "SliceFailed",
            parameters={
                "input_key.$": "$.batch_slice.input_key",
                "output_key.$": "$.batch_slice.output_key",
                "first_row.$": "$.batch_slice.first_row",
                "rows.$": "$.batch_slice.rows",
                "slice_error.$": "$.caught",
            },
        )
        predict.add_catch(slice_failed, errors=["States.ALL"], result_path="$.caught")
        predict_all = sfn.Map(
            self,
            "PredictSlices",
            items_path="$.items",
            max_concurrency=settings.max_concurrency,
            item_selector={
                "batch_slice": {
                    "bucket": batch_bucket.bucket_name,
                    "input_key.$": "$$.Map.Item.Value.input_key",
                    "output_key.$": "$$.Map.Item.Value.output_key",
                    "first_row.$": "$$.Map.Item.Value.first_row",
                    "rows.$": "$$.Map.Item.Value.rows",
                },
                "function_version.$": "$.function_version",
            },
            result_path="$.results",
        )
        predict_all.item_processor(predict)
        summarize = tasks.LambdaInvoke(
            self,
            "Summarize",
            lambda_function=function,
            qualifier=version,
            result_selector={"result.$": "$.Payload"},
            output_path="$.result",
            payload=sfn.TaskInput.from_object(
                {
                    "batch_summary": {
                        "items.$": "$.results",
                        "run_id.$": "$.run_id",
                        "bucket": batch_bucket.bucket_name,
                        "output_prefix.$": "$.output_prefix",
                    }
                }
            ),
            retry_on_service_exceptions=False,
        )
        _retry_transient(summarize)
        # under /aws/vendedlogs/states/: AWS's guidance for Step Functions log groups, so the
        # CloudWatch Logs resource policy does not grow with every stage
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=f"/aws/vendedlogs/states/{settings.stack_prefix}-{settings.stage}-batch",
            retention=retention(settings.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(predict_all.next(summarize)),
            timeout=cdk.Duration.hours(2),
            tracing_enabled=True,
            # ERROR without execution data: a caught slice error must not copy row values
            # into the logs
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ERROR,
                include_execution_data=False,
            ),
            comment="Predicts a batch stored as JSONL slices in S3; results go back to S3",
        )
        acknowledge(
            self.state_machine,
            rule="AwsSolutions-SF1",
            reason="Logs at ERROR without execution data on purpose: a caught slice error carries "
            "row values, and ALL would copy every state's input and output (with the batch's "
            "data) into CloudWatch Logs.",
        )
        policy = self.state_machine.role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        acknowledge(
            policy,
            rule="AwsSolutions-IAM5[Resource::*]",
            reason="CloudWatch Logs delivery and X-Ray actions of Step Functions support no "
            "resource-level permissions.",
        )
        fn_ref = cdk.Stack.of(self).get_logical_id(_cfn(function))
        acknowledge(
            policy,
            rule=f"AwsSolutions-IAM5[Resource::<{fn_ref}.Arn>:*]",
            reason="Invoke on the function's own versions and aliases (qualified ARNs), "
            "as generated by LambdaInvoke; no other function.",
        )


def _retry_transient(task: tasks.LambdaInvoke) -> None:
    """Retry what may pass (throttling, crashes, timeouts, S3 unreachable) with backoff; never a
    permanent refusal (model integrity or version), which goes straight to the Catch."""
    task.add_retry(
        errors=list(names.TRANSIENT_ERRORS),
        interval=cdk.Duration.seconds(1),
        max_attempts=3,
        backoff_rate=2.0,
    )
    task.add_retry(
        errors=list(names.NOT_ACTIVE_ERRORS),
        interval=cdk.Duration.seconds(5),
        max_attempts=6,
        backoff_rate=2.0,
    )


def _cfn(function: lambda_.IFunction) -> cdk.CfnElement:
    node = function.node.default_child
    assert isinstance(node, cdk.CfnElement)
    return node
