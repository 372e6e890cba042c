"""status: what is deployed, which model version is live, and the alarms' states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

from ops.aws import cloudformation
from ops.aws.faults import user_facing
from ops.aws.function import describe_model
from ops.aws.target import target_for
from ops.errors import OpsError
from ops.plan import Plan
from ops.settings import Settings


@dataclass(frozen=True)
class Status:
    target: str
    reachable: bool
    model_stack: str | None
    service_stack: str | None
    model_version: str | None
    model_sha256: str | None
    alarms: tuple[tuple[str, str], ...]
    note: str = ""


@overload
def status(*, dry_run: Literal[False] = False, settings: Settings | None = None) -> Status: ...


@overload
def status(*, dry_run: Literal[True], settings: Settings | None = None) -> Plan: ...


@user_facing
def status(*, dry_run: bool = False, settings: Settings | None = None) -> Status | Plan:
    """Never starts anything: a stopped local target is reported as such."""
    target = target_for(settings)
    s = target.settings
    if dry_run:
        return Plan(
            "status",
            s.target,
            ("describe both stacks", "ask the function which model serves", "read alarm states"),
        )
    if not target.running():
        return Status(
            s.target,
            False,
            None,
            None,
            None,
            None,
            (),
            f"the {s.target} target is not running; `python -m ops deploy` starts it",
        )
    cf = target.client("cloudformation")
    model_stack = (cloudformation.describe(cf, s.model_stack_name) or {}).get("StackStatus")
    service_stack = (cloudformation.describe(cf, s.service_stack_name) or {}).get("StackStatus")
    version = sha = None
    note = ""
    alarms: tuple[tuple[str, str], ...] = ()
    if service_stack:
        try:
            target.forget_outputs()  # status always reads the stacks afresh
            served = describe_model(target).model
            version, sha = served.version_id, served.sha256
        except OpsError as err:
            note = str(err)
        found = target.client("cloudwatch").describe_alarms(AlarmNamePrefix=s.service_stack_name)
        alarms = tuple(
            sorted(
                (a["AlarmName"].removeprefix(s.service_stack_name + "-"), a["StateValue"])
                for a in found["MetricAlarms"]
            )
        )
    else:
        note = "not deployed; run `python -m ops deploy`"
    return Status(s.target, True, model_stack, service_stack, version, sha, alarms, note)
