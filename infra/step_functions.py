"""What every state machine of the stacks needs besides its own work: delivering its logs and
its X-Ray traces (neither supports resource-level permissions, so their resource is ``*``:
https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html#cloudwatch-iam-policy)."""

from __future__ import annotations

from aws_cdk import aws_iam as iam


def logs_and_traces() -> list[iam.PolicyStatement]:
    """The ``DeliverLogs`` and ``Trace`` statements of a state machine's role."""
    return [
        iam.PolicyStatement(
            sid="DeliverLogs",
            actions=[
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="Trace",
            actions=[
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            resources=["*"],
        ),
    ]
