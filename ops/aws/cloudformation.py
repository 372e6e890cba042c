"""CloudFormation through boto3: deploy a template, read status and outputs, delete.

Reading outputs and status is the same code for both targets; the local target also deploys
through here (change sets), AWS through the CDK CLI.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from ops.errors import DeployError, StackNotDeployedError

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
WAIT = {"Delay": 1, "MaxAttempts": 3600}


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    resource_type: str
    physical_id: str


def describe(cf: Any, name: str) -> dict[str, Any] | None:
    """The stack's description, or None when it does not exist (or was deleted)."""
    try:
        stacks = cf.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return dict(live[0]) if live else None


def outputs(cf: Any, name: str) -> dict[str, str]:
    stack = describe(cf, name)
    if stack is None:
        raise StackNotDeployedError(f"stack {name} is not deployed; run `python -m ops deploy`")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def _same_template(cf: Any, name: str, body: str) -> bool:
    try:
        deployed = cf.get_template(StackName=name)["TemplateBody"]
    except ClientError:
        return False
    deployed_obj = deployed if isinstance(deployed, dict) else json.loads(deployed)
    return bool(deployed_obj == json.loads(body))


def deploy_template(cf: Any, name: str, body: str) -> bool:
    """Create or update ``name`` with a change set; False (and nothing done) when unchanged."""
    existing = describe(cf, name)
    if (
        existing is not None
        and existing["StackStatus"].endswith("_COMPLETE")
        and _same_template(cf, name, body)
    ):
        return False
    kind = (
        "UPDATE"
        if existing is not None and existing["StackStatus"] != "REVIEW_IN_PROGRESS"
        else "CREATE"
    )
    change_set = cf.create_change_set(
        StackName=name,
        ChangeSetName=f"ops-{int(time.time() * 1000)}",
        TemplateBody=body,
        Capabilities=CAPABILITIES,
        ChangeSetType=kind,
    )
    try:
        cf.get_waiter("change_set_create_complete").wait(
            ChangeSetName=change_set["Id"], StackName=name, WaiterConfig=WAIT
        )
    except WaiterError as err:
        reason = cf.describe_change_set(ChangeSetName=change_set["Id"], StackName=name).get(
            "StatusReason", ""
        )
        if "didn't contain changes" in reason or "No updates" in reason:
            cf.delete_change_set(ChangeSetName=change_set["Id"], StackName=name)
            return False
        raise DeployError(f"change set for {name} failed: {reason or err}") from err
    cf.execute_change_set(ChangeSetName=change_set["Id"], StackName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cf.get_waiter(waiter).wait(StackName=name, WaiterConfig=WAIT)
    except WaiterError as err:
        raise DeployError(f"deploying {name} failed: {_failure_reason(cf, name) or err}") from err
    return True


def _failure_reason(cf: Any, name: str) -> str:
    try:
        events = cf.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return ""
    reasons = [
        e.get("ResourceStatusReason", "") for e in events if "FAILED" in e.get("ResourceStatus", "")
    ]
    return "; ".join(r for r in reasons if r)[:1000]


def resources(cf: Any, name: str) -> list[StackResource]:
    if describe(cf, name) is None:
        return []
    found = cf.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return [
        StackResource(r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", ""))
        for r in found
    ]


def delete(cf: Any, name: str) -> bool:
    """Delete the stack and wait; False when there was none."""
    if describe(cf, name) is None:
        return False
    cf.delete_stack(StackName=name)
    try:
        cf.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAIT)
    except WaiterError as err:
        raise DeployError(f"deleting {name} failed: {_failure_reason(cf, name) or err}") from err
    return True
