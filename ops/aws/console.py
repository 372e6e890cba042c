"""Where to see what the stacks created: AWS console pages on the aws target.

The URL shapes are the consoles' own (CloudFormation, Lambda, CloudWatch Logs, Step Functions,
CloudWatch dashboards and alarms, S3); they are pages for people, not an API, so they only
name what to open. Commercial partition only (China and GovCloud have other console hosts).
"""

from __future__ import annotations

from urllib.parse import quote

from ops.aws.outputs import StackOutputs
from ops.display import Link


def _console(region: str, service: str, fragment: str) -> str:
    return f"https://{region}.console.aws.amazon.com/{service}/home?region={region}#{fragment}"


def _log_group(name: str) -> str:
    # the CloudWatch console double-encodes the group name in its fragment: "/" -> "$252F"
    return quote(name, safe="").replace("%", "$25")


def console_links(
    region: str, stacks: tuple[str, str], outputs: StackOutputs | None
) -> dict[str, Link]:
    """Console pages by role: stacks, function, logs, executions, dashboard, alarms, model."""
    links = {
        f"{kind} stack": Link(
            f"{name} (CloudFormation)",
            _console(region, "cloudformation", f"/stacks/stackinfo?stackId={quote(name)}"),
        )
        for kind, name in zip(("model", "service"), stacks, strict=True)
    }
    if outputs is None:
        return links
    links |= {
        "function": Link(
            f"function {outputs.function_name} (Lambda)",
            _console(region, "lambda", f"/functions/{quote(outputs.function_name)}"),
        ),
        "logs": Link(
            "function logs (CloudWatch Logs)",
            _console(
                region,
                "cloudwatch",
                f"logsV2:log-groups/log-group/{_log_group(outputs.function_log_group)}",
            ),
        ),
        "executions": Link(
            "batch executions (Step Functions)",
            _console(region, "states", f"/statemachines/view/{quote(outputs.state_machine_arn)}"),
        ),
        "dashboard": Link(
            f"dashboard {outputs.dashboard} (CloudWatch)",
            _console(region, "cloudwatch", f"dashboards/dashboard/{quote(outputs.dashboard)}"),
        ),
        "alarms": Link(
            "alarms (CloudWatch)",
            _console(region, "cloudwatch", f"alarmsV2:?~(search~'{quote(stacks[1])})"),
        ),
        "model": Link(
            f"model object s3://{outputs.model_bucket}/{outputs.model_key} (S3)",
            f"https://{region}.console.aws.amazon.com/s3/object/{quote(outputs.model_bucket)}"
            f"?region={region}&prefix={quote(outputs.model_key)}",
        ),
    }
    return links
