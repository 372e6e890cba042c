"""status: what is deployed, which model version is live, and the alarms' states."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, overload

from botocore.exceptions import ClientError

from ops.aws import cloudformation
from ops.aws.faults import user_facing
from ops.aws.outputs import StackOutputs
from ops.display import Card, Link, Plan, Shown
from ops.errors import OpsError
from ops.service import live_model, rollout_guard
from ops.service.function import describe_model
from ops.settings import Settings
from ops.targets import Target, target_for

# the stack states of a deploy that worked (a failed first deploy ends ROLLBACK_COMPLETE, a
# failed update UPDATE_ROLLBACK_COMPLETE: both "complete", neither what was asked)
DEPLOYED_STATES = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")


@dataclass(frozen=True)
class Status(Shown):
    """What is deployed (stack states, the names of what they created), which model version
    serves, the alarms' states; ``links`` say where to look (console pages, or locally the
    endpoint and AWS CLI commands)."""

    target: str
    reachable: bool
    model_stack: str | None
    service_stack: str | None
    model_version: str | None
    model_sha256: str | None
    alarms: tuple[tuple[str, str], ...]
    note: str = ""
    resources: StackOutputs | None = field(default=None, repr=False)
    endpoint: str | None = None
    links: tuple[Link, ...] = field(default=(), repr=False, compare=False)
    serving: tuple[live_model.Share, ...] = field(default=(), repr=False)
    guard: str = ""  # a running rollout guard: the rollout it would end, and by when

    @property
    def ok(self) -> bool:
        """Deployed, its stacks complete, no alarm firing (``python -m ops status`` exits 1
        otherwise)."""
        deployed = self.service_stack in DEPLOYED_STATES
        return deployed and not any(state == "ALARM" for _, state in self.alarms)

    def card(self) -> Card:
        r = self.resources
        firing = [name for name, state in self.alarms if state == "ALARM"]
        if not self.reachable or not self.service_stack:
            headline = "not deployed" if self.reachable else "not running"
        elif self.model_version:
            headline = f"{self.service_stack}, serving model version {self.model_version}"
        else:
            headline = f"{self.service_stack}, no model served yet"
        if firing:
            headline += f"; in ALARM: {', '.join(firing)}"
        return Card(
            "Status",
            headline,
            ok=self.ok,
            key=(
                ("target", self.target),
                ("endpoint", self.endpoint),
                ("model stack", self.model_stack),
                ("service stack", self.service_stack),
                ("model version", self.model_version),
                ("model sha256", self.model_sha256),
                *(
                    (
                        f"function version {x.function_version}",
                        f"{x.share:.0%} of calls, model {x.model_version}",
                    )
                    for x in self.serving
                ),
                *((("rollout guard", self.guard),) if self.guard else ()),
                *((f"alarm {name}", state) for name, state in self.alarms),
            ),
            details=() if r is None else r.named(),
            links=self.links
            + (
                (Link("the AWS CLI's key for this start", command="python -m ops local status"),)
                if self.endpoint and self.links
                else ()
            ),
            notes=(self.note,) if self.note else (),
        )

    def record(self) -> dict[str, Any]:
        r = self.resources
        return {
            "target": self.target,
            "reachable": self.reachable,
            "endpoint": self.endpoint,
            "model_stack": self.model_stack,
            "service_stack": self.service_stack,
            "model_version": self.model_version,
            "model_sha256": self.model_sha256,
            "serving": [
                {"function_version": x.function_version, "share": x.share, "model": x.model_version}
                for x in self.serving
            ],
            "alarms": dict(self.alarms),
            **({"rollout_guard": self.guard} if self.guard else {}),
            **(r.record() if r is not None else {}),
        }


@overload
def status(*, dry_run: Literal[False] = False, settings: Settings | None = None) -> Status: ...


@overload
def status(*, dry_run: Literal[True], settings: Settings | None = None) -> Plan: ...


@user_facing
def status(*, dry_run: bool = False, settings: Settings | None = None) -> Status | Plan:
    """Never starts anything: a stopped local target is reported as such."""
    target = target_for(settings)
    s = target.settings
    endpoint = target.address()
    if dry_run:
        return Plan(
            "status",
            s.target,
            ("describe both stacks", "ask the function which model serves", "read alarm states"),
        )
    if not target.running():
        return Status(
            target=s.target,
            reachable=False,
            model_stack=None,
            service_stack=None,
            model_version=None,
            model_sha256=None,
            alarms=(),
            note=f"the {s.target} target is not running; `python -m ops deploy` starts it",
            endpoint=endpoint,
        )
    cf = target.client("cloudformation")
    model_stack = (cloudformation.describe(cf, s.model_stack_name) or {}).get("StackStatus")
    service_stack = (cloudformation.describe(cf, s.service_stack_name) or {}).get("StackStatus")
    serves = _Serving(note="not deployed; run `python -m ops deploy`")
    alarms: tuple[tuple[str, str], ...] = ()
    if service_stack:
        serves = _serving(target)
        alarms = _alarm_states(target)
    return Status(
        target=s.target,
        reachable=True,
        model_stack=model_stack,
        service_stack=service_stack,
        model_version=serves.version,
        model_sha256=serves.sha256,
        alarms=alarms,
        note=serves.note,
        resources=serves.resources,
        endpoint=endpoint,
        links=tuple(target.places(serves.resources).values()),
        serving=serves.split,
        guard=serves.guard,
    )


@dataclass(frozen=True)
class _Serving:
    """Which model serves, on which split, or why that could not be read."""

    version: str | None = None
    sha256: str | None = None
    resources: StackOutputs | None = None
    split: tuple[live_model.Share, ...] = ()
    note: str = ""
    guard: str = ""


def _serving(target: Target) -> _Serving:
    """Read the stacks afresh and ask the function (during a rollout the answer may come from
    either version: the primary's is reported); what was read before a failure is kept."""
    resources: StackOutputs | None = None
    split: tuple[live_model.Share, ...] = ()
    try:
        target.forget_outputs()
        resources = target.outputs
        split = live_model.shares(target)
        guard = _guard(target)
        served = describe_model(target).model
    except OpsError as err:
        return _Serving(resources=resources, split=split, note=str(err))
    if split:
        return _Serving(
            split[0].model_version, split[0].model_sha256, resources, split, guard=guard
        )
    return _Serving(served.version_id, served.sha256, resources, split, guard=guard)


def _guard(target: Target) -> str:
    """The running rollout guard, said for a person ("" when none runs)."""
    try:
        found = rollout_guard.running(target)
    except ClientError:  # not allowed to list it (an older operator policy): status still shows
        return ""
    if found is None:
        return ""
    return (
        f"running: ends the rollout of version {found.new_version} over version "
        f"{found.old_version} by {found.deadline} unless its controller ends it first (a "
        "split ends now with `python -m ops rollback-model`)"
    )


def _alarm_states(target: Target) -> tuple[tuple[str, str], ...]:
    """Each alarm of the service stack (its name without the stack's) and its state."""
    prefix = target.settings.service_stack_name
    found = target.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)
    return tuple(
        sorted(
            (a["AlarmName"].removeprefix(prefix + "-"), a["StateValue"])
            for a in found["MetricAlarms"]
        )
    )
