"""Monitoring: alarms on real faults and a dashboard of the function and the batch pipeline."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import names
from infra.nag import acknowledge, checkov_skip
from reintento_function import contract

PERIOD = cdk.Duration.minutes(5)
# the invalid-request alarm: over a period, refused requests as a percentage of the function's
# invocations (this many more counted, so a few refusals in a quiet period cannot fire it)
INVALID_ALARM_PERCENT = 10.0
INVALID_QUIET_CALLS = 20
# the drift alarm counts this many more rows as in profile in each period: 5 drifted rows of a
# quiet period make 20% (not 100%), while at realistic traffic it changes nothing
DRIFT_QUIET_ROWS = 20


class Monitoring(Construct):
    """Alarms (errors, throttles, realtime p99 latency, failed executions, failed batch slices,
    invalid requests, input drift) and one dashboard.

    Invalid input is answered, not raised, so it never counts as a function error: the error
    alarm tracks faults of the service only. With ``alarm_email`` an SNS topic mails alarms.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        state_machine: sfn.StateMachine,
        timeout_seconds: int,
        alarm_email: str | None,
        drift_alarm_percent: float = 10.0,
        latency_alarm_ms: float | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        no_data = cw.TreatMissingData.NOT_BREACHING
        default = timeout_seconds * 1000 * contract.LATENCY_ALARM_TIMEOUT_SHARE
        latency = latency_alarm_ms if latency_alarm_ms is not None else default
        origin = (
            "latency_alarm_ms, set at deploy: by ops from the stage's measured latency, or given"
            if latency_alarm_ms is not None
            else "80% of the timeout: no latency measured yet"
        )
        self.alarms = [
            function.metric_errors(period=PERIOD, statistic="Sum").create_alarm(
                self,
                "FunctionErrors",
                threshold=1,
                evaluation_periods=1,
                alarm_description="The inference function raised errors (faults, not bad input)",
                treat_missing_data=no_data,
            ),
            function.metric_throttles(period=PERIOD, statistic="Sum").create_alarm(
                self,
                "FunctionThrottles",
                threshold=1,
                evaluation_periods=1,
                alarm_description="The inference function was throttled",
                treat_missing_data=no_data,
            ),
            _per_function(function, contract.REALTIME_LATENCY_METRIC, "p99").create_alarm(
                self,
                "RealtimeLatencyP99",
                threshold=latency,
                evaluation_periods=3,
                alarm_description=(
                    "For 15 minutes, the p99 of realtime requests' time in the function above "
                    f"{latency:g} ms ({origin}; batch slices are not counted; a timed-out "
                    "request is counted by the errors alarm)"
                ),
                treat_missing_data=no_data,
                # under 1,000 calls in a period the p99 is about the slowest call: evaluated
                # anyway, so a quiet stage alarms when its slowest calls are slow in each of 3
                # periods in a row (https://docs.aws.amazon.com/AmazonCloudWatch/latest/
                # monitoring/AlarmThatSendsEmail.html#percentiles-with-low-samples)
                evaluate_low_sample_count_percentile="evaluate",
            ),
            cw.MathExpression(
                expression="FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)",
                using_metrics={
                    "failed": state_machine.metric_failed(period=PERIOD, statistic="Sum"),
                    "timedout": state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
                    "aborted": state_machine.metric_aborted(period=PERIOD, statistic="Sum"),
                },
                period=PERIOD,
                label="batch executions not succeeded",
            ).create_alarm(
                self,
                "BatchExecutionsFailed",
                threshold=1,
                evaluation_periods=1,
                alarm_description="A batch execution failed, timed out or was aborted",
                treat_missing_data=no_data,
            ),
            self._failed_slices(state_machine).create_alarm(
                self,
                "BatchSlicesFailed",
                threshold=1,
                evaluation_periods=1,
                alarm_description=(
                    "A batch slice failed after its retries: its rows have errors instead of "
                    "answers, although the batch execution succeeded (see the run's failed/ "
                    "records, or `python -m ops run-batch`'s report)"
                ),
                treat_missing_data=no_data,
            ),
            self._invalid_share(function).create_alarm(
                self,
                contract.INVALID_REQUESTS_METRIC,
                threshold=INVALID_ALARM_PERCENT,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                alarm_description=(
                    f"Over 5 minutes, over {INVALID_ALARM_PERCENT:g}% of the function's calls "
                    "were refused requests (answered InvalidInput: clients send rows the live "
                    "model does not take; see `python -m ops logs`)"
                ),
                treat_missing_data=no_data,
            ),
            self._drift_share(function).create_alarm(
                self,
                "InputDrift",
                threshold=drift_alarm_percent,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                alarm_description=(
                    f"Inputs drifted: over 5 minutes, over {drift_alarm_percent:g}% of the rows "
                    "had a value outside its feature's training profile (see "
                    "`python -m ops drift`)"
                ),
                treat_missing_data=no_data,
            ),
        ]
        self.topic: sns.Topic | None = None
        if alarm_email:
            self.topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
            subscription = self.topic.add_subscription(subs.EmailSubscription(alarm_email))
            acknowledge(
                subscription,
                rule="Serverless-SNSRedrivePolicy",
                reason="An e-mail subscription for alarm notices; the alarm state stays in "
                "CloudWatch, so an undelivered notice loses no data.",
            )
            checkov_skip(
                self.topic,
                (
                    "CKV_AWS_26",
                    "CloudWatch alarms cannot publish to a topic encrypted with the AWS managed "
                    "key (aws/sns); notices carry alarm names and states only, not worth a "
                    "customer managed key per stage.",
                ),
            )
            acknowledge(
                self.topic,
                rule="AwsSolutions-SNS2",
                reason="Alarm notifications carry alarm names and states only, no data; "
                "SSE-SNS with a KMS key would add a key per deployment for no protected content.",
            )
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
            # without this statement nothing may publish to the topic: CloudWatch's notices are
            # dropped (the alarm history shows the failed action). Conditioned on this account
            # and these alarms, as "Amazon SNS topic policies for CloudWatch" recommends.
            stack = cdk.Stack.of(self)
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="CloudWatchAlarmsPublish",
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["sns:Publish"],
                    resources=[self.topic.topic_arn],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": stack.account},
                        "ArnLike": {
                            "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:"
                            f"{stack.account}:alarm:*"
                        },
                    },
                )
            )
        rows = [
            cw.Metric(
                namespace=names.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": names.SERVICE_NAME},
                statistic="Sum",
                period=PERIOD,
                label=label,
            )
            for name, label in (
                ("RowsPredicted", "realtime rows"),
                ("BatchRowsPredicted", "batch rows predicted"),
                ("BatchRowsFailed", "batch rows failed"),
            )
        ]
        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(3))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Invocations",
                left=[function.metric_invocations(period=PERIOD)],
                width=8,
            ),
            cw.GraphWidget(
                title="Duration (ms)",
                left=[
                    function.metric_duration(period=PERIOD, statistic=s, label=s)
                    for s in ("p50", "p90", "p99")
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Errors and throttles",
                left=[
                    function.metric_errors(period=PERIOD),
                    function.metric_throttles(period=PERIOD),
                ],
                width=8,
            ),
            cw.GraphWidget(title="Rows", left=rows, width=12),
            cw.GraphWidget(
                title="Batch executions",
                left=[
                    state_machine.metric_succeeded(period=PERIOD),
                    state_machine.metric_failed(period=PERIOD),
                    self._failed_slices(state_machine, "slices failed"),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Invalid requests (% of calls)",
                left=[self._invalid_share(function)],
                width=24,
            ),
            cw.GraphWidget(
                title="Input drift (% of rows out of their training profile)",
                left=[self._drift_share(function)],
                width=24,
            ),
            *self._per_version_widgets(function),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24),
        )

    @staticmethod
    def _per_version_widgets(function: lambda_.Function) -> list[cw.GraphWidget]:
        """One line per function version (AWS/Lambda's: calls through the live alias; invalid
        requests: every call of the version, ops' own checks of it too): what a rollout's two
        versions do side by side. Versions are published after deploy (one per model), so each
        graph is a CloudWatch search over the version dimension, not a fixed list
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-search-expressions.html)."""
        function_dim, version_dim = contract.VERSION_DIMENSIONS
        lam = ("AWS/Lambda", (version_dim, function_dim, "Resource"))
        own = (names.METRICS_NAMESPACE, (version_dim, function_dim, "service"))
        return [
            cw.GraphWidget(
                title=f"{title}, per function version",
                left=[_search(function, *where, metric, stat)],
                width=6,
            )
            for title, where, metric, stat in (
                ("Invocations", lam, "Invocations", "Sum"),
                ("Errors", lam, "Errors", "Sum"),
                ("Duration p99 (ms)", lam, "Duration", "p99"),
                ("Invalid requests", own, contract.INVALID_REQUESTS_METRIC, "Sum"),
            )
        ]

    @staticmethod
    def _failed_slices(state_machine: sfn.StateMachine, label: str | None = None) -> cw.Metric:
        """The slices of this stage's batches that failed after their retries (counted by the
        state machine's catch, ``batch_pipeline``); an alarm's has no label (CDK would write a
        labelled metric as a metric-math query)."""
        return cw.Metric(
            namespace=names.METRICS_NAMESPACE,
            metric_name=names.FAILED_SLICES_METRIC,
            dimensions_map={names.FAILED_SLICES_DIMENSION: state_machine.state_machine_name},
            statistic="Sum",
            period=PERIOD,
            label=label,
        )

    @staticmethod
    def _invalid_share(function: lambda_.Function) -> cw.MathExpression:
        """The invalid-request alarm's figure: the refused requests (the function counts them
        per function, ``contract.INVALID_REQUESTS_METRIC``) as a percentage of its invocations,
        with ``INVALID_QUIET_CALLS`` more calls."""
        return cw.MathExpression(
            expression=f"100 * FILL(refused, 0) / (FILL(calls, 0) + {INVALID_QUIET_CALLS})",
            using_metrics={
                "refused": _per_function(function, contract.INVALID_REQUESTS_METRIC),
                "calls": function.metric_invocations(period=PERIOD, statistic="Sum"),
            },
            period=PERIOD,
            label="% of calls refused as invalid",
        )

    @staticmethod
    def _drift_share(function: lambda_.Function) -> cw.MathExpression:
        """The drift alarm's figure: over a period, each call's worst feature's values out of
        profile, as a percentage of the rows compared (contract.OUT_OF_PROFILE_METRIC and
        PROFILED_ROWS_METRIC per function), with DRIFT_QUIET_ROWS more rows counted as in
        profile so that a few rows in a quiet period cannot fire it alone."""
        return cw.MathExpression(
            expression=f"100 * FILL(out, 0) / (rows + {DRIFT_QUIET_ROWS})",
            using_metrics={
                "out": _per_function(function, contract.OUT_OF_PROFILE_METRIC),
                "rows": _per_function(function, contract.PROFILED_ROWS_METRIC),
            },
            period=PERIOD,
            label="% of rows out of profile",
        )


def _search(
    function: lambda_.Function, namespace: str, schema: tuple[str, ...], metric: str, stat: str
) -> cw.MathExpression:
    """A search for ``metric`` of this function under ``schema`` (its exact dimension set), one
    line per value of the dimensions it does not fix (here: per version)."""
    found = (
        f'{{{namespace},{",".join(schema)}}} MetricName="{metric}" '
        f'FunctionName="{function.function_name}"'
    )
    return cw.MathExpression(
        expression=f"SEARCH('{found}', '{stat}', {int(PERIOD.to_seconds())})",
        using_metrics={},
        period=PERIOD,
        label="",  # each line named by its version, not by the search
    )


def _per_function(function: lambda_.Function, name: str, statistic: str = "Sum") -> cw.Metric:
    """A figure the function publishes under its own dimensions, whatever version answered
    (``contract.ALARM_DIMENSIONS`` and Powertools' ``service``), per period."""
    (function_dimension,) = contract.ALARM_DIMENSIONS
    return cw.Metric(
        namespace=names.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={function_dimension: function.function_name, "service": names.SERVICE_NAME},
        statistic=statistic,
        period=PERIOD,
    )
