"""The batch pipeline: a Step Functions Distributed Map over S3 slices, predicted by the function.

Nothing that grows with the batch travels in the state: the execution input names an S3
manifest (the slice list, read by the Distributed Map's ItemReader), each slice is predicted by
the function in a child workflow, which writes one result line per row back to S3, and a slice
that still fails after its retries has its caught error written to S3 by the state machine
(``batch/<run>/failed/``). The state carries only keys and counts, so the batch size is bounded
by S3, not by the 256 KB state or the 25,000-event history
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). Transient faults are
retried with backoff; permanent refusals are not; one bad slice never loses the others.

Children are Express workflows: a slice is one Lambda invoke with a few retries, well under
Express's 5 minutes, and Express bills per request and duration instead of per state
transition; a re-run slice writes the same output key, so Express's at-least-once start is
harmless.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct, IConstruct

from infra import names
from infra.log_retention import retention
from infra.nag import acknowledge, checkov_skip
from infra.settings import StackSettings
from infra.step_functions import logs_and_traces
from reintento_function import contract


class BatchPipeline(Construct):
    """Batch bucket + state machine (Distributed Map with MaxConcurrency, Retry, Catch)."""

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
        # every slice invokes the one function version the batch started with (the `live`
        # alias resolved by ops): one model for the whole batch
        predict = tasks.LambdaInvoke(
            self,
            "PredictSlice",
            lambda_function=function,
            qualifier=sfn.JsonPath.string_at(f"$.{contract.EXECUTION_FUNCTION_VERSION}"),
            payload=sfn.TaskInput.from_object(
                {f"{contract.EVENT_SLICE}.$": f"$.{contract.EVENT_SLICE}"}
            ),
            # the child's output is two counts (the rows themselves are in S3)
            result_selector={
                f"{key}.$": f"$.Payload.{key}"
                for key in (contract.SLICE_ROWS, contract.SLICE_FAILED)
            },
            retry_on_service_exceptions=False,
        )
        _retry_transient(predict)
        record_failure = tasks.CallAwsService(
            self,
            "RecordSliceFailure",
            service="s3",
            action="putObject",
            parameters={
                "Bucket": batch_bucket.bucket_name,
                "Key.$": f"$.{contract.SLICE_FAILURE_KEY}",
                "Body.$": "States.JsonToString($.caught)",
                "ContentType": "application/json",
            },
            iam_action="s3:PutObject",
            iam_resources=[batch_bucket.arn_for_objects(names.BATCH_FAILED_PATTERN)],
            result_path=sfn.JsonPath.DISCARD,
            output_path=f"$.{contract.SLICE_FAILURE_KEY}",
        )
        record_failure.add_retry(
            errors=["States.TaskFailed"],
            interval=cdk.Duration.seconds(1),
            max_attempts=3,
            backoff_rate=2.0,
        )
        # and counted, so the stage's alarm sees a failed slice: the batch execution itself
        # succeeds (the failure was caught), and a crash or refusal leaves no function metric
        count_failure = tasks.CallAwsService(
            self,
            "CountSliceFailure",
            service="cloudwatch",
            action="putMetricData",
            parameters={
                "Namespace": names.METRICS_NAMESPACE,
                "MetricData": [
                    {
                        "MetricName": names.FAILED_SLICES_METRIC,
                        "Dimensions": [
                            {
                                "Name": names.FAILED_SLICES_DIMENSION,
                                "Value": contract.batch_name(settings.stack_prefix, settings.stage),
                            }
                        ],
                        "Unit": "Count",
                        "Value": 1,
                    }
                ],
            },
            iam_action="cloudwatch:PutMetricData",
            iam_resources=["*"],
            result_path=sfn.JsonPath.DISCARD,
        )
        predict.add_catch(
            record_failure.next(count_failure), errors=["States.ALL"], result_path="$.caught"
        )
        predict_all = sfn.DistributedMap(
            self,
            "PredictSlices",
            item_reader=sfn.S3JsonItemReader(
                bucket=batch_bucket,
                key=sfn.JsonPath.string_at(f"$.{contract.EXECUTION_MANIFEST_KEY}"),
            ),
            max_concurrency=settings.max_concurrency,
            # a failed slice is caught and recorded (its child succeeds); a child that fails
            # even so leaves its rows without results, which ops reports as errors
            tolerated_failure_percentage=settings.tolerated_failure_percentage,
            map_execution_type=sfn.StateMachineType.EXPRESS,
            item_selector={
                contract.EVENT_SLICE: {
                    contract.SLICE_BUCKET: batch_bucket.bucket_name,
                    **{f"{k}.$": f"$$.Map.Item.Value.{k}" for k in contract.SLICE_FIELDS},
                },
                f"{contract.SLICE_FAILURE_KEY}.$": (
                    f"$$.Map.Item.Value.{contract.SLICE_FAILURE_KEY}"
                ),
                f"{contract.EXECUTION_FUNCTION_VERSION}.$": (
                    f"$.{contract.EXECUTION_FUNCTION_VERSION}"
                ),
            },
            result_writer_v2=sfn.ResultWriterV2(bucket=batch_bucket, prefix=names.MAP_RUN_PREFIX),
        )
        predict_all.item_processor(predict)
        # under /aws/vendedlogs/states/: AWS's guidance for Step Functions log groups, so the
        # CloudWatch Logs resource policy does not grow with every stage
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name="/aws/vendedlogs/states/"
            + contract.batch_name(settings.stack_prefix, settings.stage),
            retention=retention(settings.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # the role's policy is written out here, statement by statement: the Distributed Map's
        # item reader and result writer would otherwise grant read and write on every object
        # of the batch bucket, and the state machine needs neither
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="The batch state machine: invoke the function, read a run's manifest, "
            "record failed slices, write map-run results",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            # named, not generated: the operator's policy (`python -m ops operator-policy`)
            # grants StartExecution on this name only
            state_machine_name=contract.batch_name(settings.stack_prefix, settings.stage),
            definition_body=sfn.DefinitionBody.from_chainable(predict_all),
            role=role.without_policy_updates(),
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
        stack = cdk.Stack.of(self)
        policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="InvokeTheFunction",
                    actions=["lambda:InvokeFunction"],
                    resources=[function.function_arn, f"{function.function_arn}:*"],
                ),
                iam.PolicyStatement(
                    sid="ReadRunManifests",
                    actions=["s3:GetObject"],
                    resources=[batch_bucket.arn_for_objects(names.BATCH_MANIFEST_PATTERN)],
                ),
                iam.PolicyStatement(
                    sid="RecordFailedSlices",
                    actions=["s3:PutObject"],
                    resources=[batch_bucket.arn_for_objects(names.BATCH_FAILED_PATTERN)],
                ),
                iam.PolicyStatement(
                    sid="WriteMapRunResults",
                    actions=[
                        "s3:PutObject",
                        "s3:GetObject",
                        "s3:ListMultipartUploadParts",
                        "s3:AbortMultipartUpload",
                    ],
                    resources=[batch_bucket.arn_for_objects(f"{names.MAP_RUN_PREFIX}/*")],
                ),
                # PutMetricData has no resource type: its namespace is the constraint
                # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
                iam.PolicyStatement(
                    sid="CountFailedSlices",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": names.METRICS_NAMESPACE}},
                ),
                *logs_and_traces(),
            ],
        )
        # attached before the state machine is created: CreateStateMachine checks that its
        # role may deliver logs (policy), which cannot name the machine without a cycle
        self.state_machine.node.add_dependency(policy)
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        # a Distributed Map starts its child workflows as executions of this machine; the
        # policy CDK writes for that (also for redrives, which ops never does) cannot attach to
        # this role and is replaced by this one
        self.state_machine.node.try_remove_child("DistributedMapPolicy")
        children = iam.Policy(
            self,
            "ChildWorkflowsPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="RunChildWorkflows",
                    actions=["states:StartExecution"],
                    resources=[self.state_machine.state_machine_arn],
                ),
                iam.PolicyStatement(
                    sid="WatchChildWorkflows",
                    actions=["states:DescribeExecution", "states:StopExecution"],
                    resources=[executions],
                ),
            ],
        )
        checkov_skip(
            self.log_group,
            (
                "CKV_AWS_158",
                "CloudWatch Logs encrypts log data at rest with its own keys; the state "
                "machine logs at ERROR without execution data, so a customer managed key ($1 a "
                "month per stage) would protect state names and error types only.",
            ),
        )
        acknowledge(
            self.state_machine,
            rule="AwsSolutions-SF1",
            reason="Logs at ERROR without execution data on purpose: a caught slice error carries "
            "row values, and ALL would copy every state's input and output (with the batch's "
            "data) into CloudWatch Logs.",
        )
        acknowledge(
            policy,
            rule="AwsSolutions-IAM5[Resource::*]",
            reason="CloudWatch Logs delivery, X-Ray actions of Step Functions and CloudWatch's "
            "PutMetricData (held to the project's namespace by a condition) support no "
            "resource-level permissions.",
        )
        fn_ref = stack.get_logical_id(_cfn(function))
        acknowledge(
            policy,
            rule=f"AwsSolutions-IAM5[Resource::<{fn_ref}.Arn>:*]",
            reason="Invoke on the function's own versions and aliases (qualified ARNs); no "
            "other function.",
        )
        bucket_ref = stack.get_logical_id(_cfn(batch_bucket))
        for pattern, why in (
            (names.BATCH_FAILED_PATTERN, "the failed-slice records of any run (run ids vary)"),
            (f"{names.MAP_RUN_PREFIX}/*", "the Distributed Map's result files (AWS names them)"),
        ):
            acknowledge(
                policy,
                rule=f"AwsSolutions-IAM5[Resource::<{bucket_ref}.Arn>/{pattern}]",
                reason=f"Objects under one prefix of the batch bucket: {why}.",
            )
        machine_ref = stack.get_logical_id(_cfn(self.state_machine))
        acknowledge(
            children,
            rule="AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
            f"<AWS::AccountId>:execution:<{machine_ref}.Name>:*]",
            reason="The child workflows of this state machine only (their names are generated).",
        )


def _retry_transient(task: tasks.LambdaInvoke) -> None:
    """Retry what may pass (throttling, crashes, timeouts, S3 unreachable) with backoff; never a
    permanent refusal (model integrity or version), which goes straight to the Catch."""
    for errors, (interval, attempts, backoff) in (
        (names.TRANSIENT_ERRORS, names.TRANSIENT_RETRY),
        (names.NOT_ACTIVE_ERRORS, names.NOT_ACTIVE_RETRY),  # within the Express 5 minutes
    ):
        task.add_retry(
            errors=list(errors),
            interval=cdk.Duration.seconds(interval),
            max_attempts=attempts,
            backoff_rate=backoff,
        )


def _cfn(construct: IConstruct) -> cdk.CfnElement:
    node = construct.node.default_child
    assert isinstance(node, cdk.CfnElement)
    return node
