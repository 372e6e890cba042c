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
import math
import re
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from ops.errors import ConcurrentChangeError, StackNotDeployedError
from ops.targets import Target
from reintento_function import contract

# How long after a rollout's planned end the guard waits before it ends the rollout itself: the
# controller's last reads of CloudWatch and a slow machine fit within it, plus STEP_SECONDS for
# each step (each step's last check reads the metrics, the traffic and the probe once more)
GRACE_SECONDS = 300.0
STEP_SECONDS = 60.0
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


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _running_arns(target: Target, needed: bool) -> list[str]:
    """Every running guard execution (ListExecutions is eventually consistent: one started a
    moment ago may be missing). A stack deployed before the guard existed has none: refused
    when ``needed`` (a staged rollout), else none."""
    sfn = target.client("stepfunctions")
    try:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine_arn(target), statusFilter="RUNNING"
        )
        return [e["executionArn"] for page in pages for e in page["executions"]]
    except ClientError as err:
        if _code(err) != "StateMachineDoesNotExist":
            raise
        if needed:
            raise StackNotDeployedError(
                "the stage has no rollout guard (its stacks are older than this code), so a "
                "canary or linear rollout cannot be guarded; run `python -m ops deploy` first, "
                "or upload with --rollout all-at-once"
            ) from err
        return []


def running(target: Target, needed: bool = False) -> Guard | None:
    """The stage's running guard, if a rollout holds the lock."""
    found = _running_arns(target, needed)
    if not found:
        return None
    described = target.client("stepfunctions").describe_execution(executionArn=found[0])
    given = json.loads(described.get("input") or "{}")
    return Guard(
        found[0],
        str(given.get(contract.GUARD_OLD_VERSION, "?")),
        str(given.get(contract.GUARD_NEW_VERSION, "?")),
        str(given.get(contract.GUARD_DEADLINE, "?")),
    )


def refusal(guard: Guard) -> str:
    """Why an upload is refused while ``guard`` runs (and no split is seen: a rollout checking
    its new version before traffic, or one whose controller stopped), and what to do."""
    return (
        f"a rollout is running on this stage: version {guard.new_version} over version "
        f"{guard.old_version}, its checks before traffic or its end not done yet; this upload "
        f"changed nothing. Wait for it to end; if its controller stopped, its guard ends it by "
        f"{guard.deadline}, or stop the guard now: aws stepfunctions stop-execution "
        f"--execution-arn {guard.arn}"
    )


def check_unlocked(target: Target, staged: bool) -> None:
    """``ConcurrentChangeError`` while another rollout's guard runs on this stage; for a
    ``staged`` rollout, also a stage without a guard is refused."""
    guard = running(target, needed=staged)
    if guard is not None:
        raise ConcurrentChangeError(refusal(guard))


def deadline_seconds(steps: int, planned_seconds: float) -> int:
    """How long the guard waits: the plan, ``STEP_SECONDS`` per step and ``GRACE_SECONDS``."""
    return math.ceil(planned_seconds + steps * STEP_SECONDS + GRACE_SECONDS)


def start(
    target: Target, versions: tuple[str, str], revision: str | None, wait_seconds: int
) -> str:
    """Start the guard for a rollout from ``versions[0]`` to ``versions[1]``, to act in
    ``wait_seconds`` (counted by Step Functions, not this machine's clock); its execution ARN.
    ``ConcurrentChangeError`` when another rollout that read the same alias holds the lock."""
    old, new = versions
    deadline = datetime.now(UTC) + timedelta(seconds=wait_seconds)
    given = {
        contract.GUARD_OLD_VERSION: old,
        contract.GUARD_NEW_VERSION: new,
        contract.GUARD_WAIT_SECONDS: wait_seconds,
        contract.GUARD_DEADLINE: deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),  # said, not used
    }
    name = f"from-{old}-{_NAME_UNSAFE.sub('-', revision or uuid.uuid4().hex)}"[:80]
    sfn = target.client("stepfunctions")
    try:
        started = sfn.start_execution(
            stateMachineArn=machine_arn(target), name=name, input=json.dumps(given)
        )
    except ClientError as err:
        if _code(err) != "ExecutionAlreadyExists":
            raise
        guard = running(target)
        raise ConcurrentChangeError(
            refusal(guard)
            if guard is not None
            else f"a rollout guard named {name} already ran for the live alias as this rollout "
            "read it (another rollout began from the same alias and ended); this rollout changed "
            "nothing: see `python -m ops status` and upload again"
        ) from err
    return str(started["executionArn"])


def stop(target: Target, arn: str) -> None:
    """Stop a guard whose rollout ended (a guard already ended is left as it is)."""
    sfn = target.client("stepfunctions")
    try:
        sfn.stop_execution(executionArn=arn, cause=_STOP_CAUSE)
    except ClientError:
        if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            raise


def stop_quietly(target: Target, arn: str) -> None:
    """``stop``, a failure only warned about: once the alias is settled a guard left running
    changes nothing (at its deadline it finds the new version primary, or rewrites the old one
    as it is) and only holds the lock until then."""
    try:
        stop(target, arn)
    except (ClientError, BotoCoreError) as err:
        warnings.warn(
            f"the rollout guard {arn} could not be stopped ({err}); it ends by itself at its "
            "deadline, and uploads are refused until then",
            stacklevel=2,
        )


def stop_running(target: Target) -> None:
    """Stop every running guard of the stage (a rollback ends the rollout they guard); one
    that cannot be listed or stopped is warned about: the rollback itself is done."""
    try:
        found = _running_arns(target, needed=False)
    except (ClientError, BotoCoreError) as err:
        warnings.warn(f"the stage's rollout guards could not be listed ({err})", stacklevel=2)
        return
    for arn in found:
        stop_quietly(target, arn)
