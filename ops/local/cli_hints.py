"""Where to see what the stacks created on the local target: AWS CLI commands for its endpoint.

The local target has no console; the AWS CLI reaches it with ``--endpoint-url`` and the key of
its current start (the ``export`` lines of ``python -m ops local status``; never shown here,
since these lines end up in notebooks).
"""

from __future__ import annotations

from ops.aws.outputs import StackOutputs
from ops.display import Link


def cli_links(
    endpoint: str, stacks: tuple[str, str], outputs: StackOutputs | None
) -> dict[str, Link]:
    """AWS CLI commands by role, the same roles as ``ops.aws.console.console_links``."""
    aws = f"aws --endpoint-url {endpoint}"
    links = {
        f"{kind} stack": Link(
            f"{name}", command=f"{aws} cloudformation describe-stacks --stack-name {name}"
        )
        for kind, name in zip(("model", "service"), stacks, strict=True)
    }
    if outputs is None:
        return links
    links |= {
        "function": Link(
            "function", command=f"{aws} lambda get-function --function-name {outputs.function_name}"
        ),
        "logs": Link(
            "function logs", command=f"{aws} logs tail {outputs.function_log_group} --since 1h"
        ),
        "executions": Link(
            "batch executions",
            command=f"{aws} stepfunctions list-executions "
            f"--state-machine-arn {outputs.state_machine_arn}",
        ),
        "dashboard": Link(
            "dashboard",
            command=f"{aws} cloudwatch get-dashboard --dashboard-name {outputs.dashboard}",
        ),
        "alarms": Link(
            "alarms",
            command=f"{aws} cloudwatch describe-alarms --alarm-name-prefix {stacks[1]}",
        ),
        "model": Link(
            "model object",
            command=f"{aws} s3api head-object --bucket {outputs.model_bucket} "
            f"--key {outputs.model_key}",
        ),
    }
    return links
