"""The rollout guard, from ``ops``' side: started before a rollout's first call reaches the new
version, stopped when the rollout ends; while it runs, the stage's lock.

The guard is a state machine in the service stack (``infra/rollout_guard.py``): at its deadline,
if the old version is still the live alias's primary, it moves every call back to it. So a
controller that dies mid-bake (a closed laptop, a killed CI job, SIGKILL) leaves no split behind
for longer than the deadline, and the execution's history records what the guard did.

The lock: an execution's name is the old version and the alias's ``RevisionId`` the rollout read,
so two rollouts that read the same alias get the same name and the second is refused by Step
Functions itself (``ExecutionAlreadyExists``); any upload while a guard runs is refused, naming
it (``check_unlocked``). https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from ops.errors import ConcurrentChangeError
from ops.targets import Target
from reintento_function import contract

# How long after a rollout's planned end the guard waits before it ends the rollout itself: the
# controller's last reads of CloudWatch, and a slow machine, fit well within it
GRACE_SECONDS = 300.0
_STOP_CAUSE = "the rollout ended; its controller stopped the guard"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Guard:
    """A running guard execution: its ARN, and what it would end."""

    arn: str
    old_version: str
    new_version: str
    deadline: str


def machine_arn(target: Target) -> str:
    """The stage's guard state machine, beside its function (same partition, region, account)."""
    parts = target.outputs.function_arn.split(":")
    name = contract.rollout_guard_name(target.settings.stack_prefix, target.settings.stage)
    return f"arn:{parts[1]}:states:{parts[3]}:{parts[4]}:stateMachine:{name}"


def _missing(err: ClientError) -> bool:
    return bool(err.response.get("Error", {}).get("Code") == "StateMachineDoesNotExist")


def running(target: Target) -> Guard | None:
    """The stage's running guard, if a rollout holds the lock (None on stacks without one)."""
    sfn = target.client("stepfunctions")
    try:
        found = sfn.list_executions(
            stateMachineArn=machine_arn(target), statusFilter="RUNNING", maxResults=1
        )["executions"]
    except ClientError as err:
        if _missing(err):
            return None
        raise
    if not found:
        return None
    arn = found[0]["executionArn"]
    given = json.loads(sfn.describe_execution(executionArn=arn).get("input") or "{}")
    return Guard(
        arn,
        str(given.get(contract.GUARD_OLD_VERSION, "?")),
        str(given.get(contract.GUARD_NEW_VERSION, "?")),
        str(given.get(contract.GUARD_DEADLINE, "?")),
    )


def refusal(guard: Guard) -> str:
    """Why an upload is refused while ``guard`` runs, and what to do."""
    return (
        f"a rollout is running on this stage: version {guard.new_version} is being rolled out "
        f"over version {guard.old_version} (its guard, {guard.arn.rsplit(':', 1)[-1]}, ends it "
        f"by {guard.deadline} if its controller stops); this upload changed nothing. Wait for "
        "it to end, or stop it with `python -m ops rollback-model` (in Python "
        "`ops.rollback_model()`)"
    )


def check_unlocked(target: Target) -> None:
    """``ConcurrentChangeError`` while another rollout's guard runs on this stage."""
    guard = running(target)
    if guard is not None:
        raise ConcurrentChangeError(refusal(guard))


def start(
    target: Target, versions: tuple[str, str], revision: str | None, planned_seconds: float
) -> str:
    """Start the guard for a rollout from ``versions[0]`` to ``versions[1]`` that plans to end
    within ``planned_seconds``; its execution ARN. ``ConcurrentChangeError`` when another
    rollout that read the same alias holds the lock."""
    old, new = versions
    deadline = datetime.now(UTC) + timedelta(seconds=planned_seconds + GRACE_SECONDS)
    given = {
        contract.GUARD_FUNCTION: target.outputs.function_name,
        contract.GUARD_OLD_VERSION: old,
        contract.GUARD_NEW_VERSION: new,
        contract.GUARD_DEADLINE: deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    name = f"from-{old}-{_NAME_UNSAFE.sub('-', revision or uuid.uuid4().hex)}"[:80]
    sfn = target.client("stepfunctions")
    try:
        started = sfn.start_execution(
            stateMachineArn=machine_arn(target), name=name, input=json.dumps(given)
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        if code == "ExecutionAlreadyExists":
            guard = running(target)
            raise ConcurrentChangeError(
                refusal(guard)
                if guard is not None
                else "another rollout read the live alias as this one did and began first; "
                "this rollout changed nothing (see `python -m ops status`)"
            ) from err
        raise
    return str(started["executionArn"])


def stop(target: Target, arn: str) -> None:
    """Stop a guard whose rollout ended (a guard already ended is left as it is)."""
    sfn = target.client("stepfunctions")
    try:
        sfn.stop_execution(executionArn=arn, cause=_STOP_CAUSE)
    except ClientError:
        if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            raise


def stop_running(target: Target) -> None:
    """Stop the stage's running guard, if any (a rollback ends the rollout it guards)."""
    guard = running(target)
    if guard is not None:
        stop(target, guard.arn)
