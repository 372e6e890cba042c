"""teardown: delete the service stack (and, only when asked, the model bucket and its versions).

It lists what it will delete, and refuses unless ``confirm`` equals the service stack's name:
a refusal deletes nothing and returns ``refused=True`` with the list and how to proceed (so a
notebook shows it and goes on; the CLI exits non-zero). The model bucket is kept unless
``delete_model_bucket=True`` AND ``confirm_model_store`` equals the model stack's name (one
confirmation never authorizes deleting every model): then every version of every object is
deleted, then the bucket, and the model signing key is scheduled for deletion.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, overload

from botocore.exceptions import ClientError

from ops.aws import cloudformation
from ops.aws.cloudformation import StackResource
from ops.aws.faults import user_facing
from ops.aws.outputs import OUTPUT_KEYS
from ops.display import Card, Plan, Shown
from ops.errors import DeployError, TeardownError
from ops.settings import Settings
from ops.targets import Target, target_for

# A stopped batch's Distributed Map children are Express executions, which StopExecution does not
# stop: those already running go on (writing output/ and failed/) for at most Express's 5 minutes,
# and the function call a child made may outlive it by up to the function's timeout and an Init
# (the stacks keep a batch's timeout at or under 42 s, infra/names.py)
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
EXPRESS_LIMIT_SECONDS = 300
CHILDREN_WAIT_SECONDS = EXPRESS_LIMIT_SECONDS + 60 + 15
CHILDREN_POLL_SECONDS = 1.0
# a bucket written to after it was emptied fails the stack's delete (DELETE_FAILED): it is emptied
# and the delete retried, at least this many times in all, and for as long as a stopped batch's
# children may still write
DELETE_ATTEMPTS = 3
DELETE_RETRY_PAUSE_SECONDS = 5.0

# the model bucket's server access logs are an audit trail: RETAINed by the model stack
ACCESS_LOGS_KEPT = (
    "the model bucket's access-log bucket (an audit trail: its logs expire after 365 days)"
)


@dataclass(frozen=True)
class TeardownResult(Shown):
    """What was deleted and kept; with ``refused`` nothing was deleted and ``message`` says why."""

    refused: bool
    deleted_stacks: tuple[str, ...] = ()
    emptied_buckets: tuple[str, ...] = ()
    deleted_buckets: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    message: str = ""
    stopped_executions: tuple[str, ...] = field(default=(), repr=False)  # running batches
    cli_message: str = field(default="", repr=False, compare=False)  # the refusal, in flags

    def card(self) -> Card:
        if self.refused:
            return Card("Teardown", "refused: nothing was deleted", notes=(self.message,))
        return Card(
            "Teardown",
            f"deleted {', '.join(self.deleted_stacks) or 'nothing'}",
            ok=True,
            key=(
                ("deleted stacks", self.deleted_stacks or "none"),
                ("emptied buckets", self.emptied_buckets),
                ("deleted buckets", self.deleted_buckets),
                ("kept", self.kept or "nothing"),
                ("stopped batches", len(self.stopped_executions) or None),
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "refused": self.refused,
            "deleted_stacks": self.deleted_stacks,
            "emptied_buckets": len(self.emptied_buckets),
            "deleted_buckets": len(self.deleted_buckets),
            "kept": self.kept,
        }

    def __str__(self) -> str:
        if self.refused:
            return self.message
        stopped = (
            f"; stopped {len(self.stopped_executions)} running batch(es)"
            if self.stopped_executions
            else ""
        )
        return (
            f"deleted stacks: {', '.join(self.deleted_stacks) or 'none'}; "
            f"kept: {', '.join(self.kept) or 'nothing'}{stopped}"
        )


def _empty(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker; return how many. DeleteObjects answers
    200 even when some keys are refused (their errors are in the answer): those stop the
    teardown, before a stack delete that would fail on the non-empty bucket.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html"""
    count = 0
    paginator = s3.get_paginator("list_object_versions")
    try:
        for page in paginator.paginate(Bucket=bucket):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for i in range(0, len(doomed), 1000):
                answer = s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": doomed[i : i + 1000], "Quiet": True}
                )
                refused = answer.get("Errors") or []
                if refused:
                    shown = "; ".join(f"{e.get('Key')}: {e.get('Code')}" for e in refused[:5])
                    raise TeardownError(
                        f"{len(refused)} object(s) in {bucket} could not be deleted ({shown}); "
                        "nothing more was deleted. Allow s3:DeleteObject/DeleteObjectVersion on "
                        "the bucket for your credentials (or remove the bucket policy that "
                        "denies it) and run teardown again"
                    )
            count += len(doomed)
    except ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchBucket":
            return 0
        raise
    return count


def _executions(sfn: Any, machine: str, status: str) -> Iterator[dict[str, Any]]:
    """The state machine's executions of one status (none when the machine is gone)."""
    try:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter=status
        )
        for page in pages:
            yield from page.get("executions", [])
    except ClientError as err:
        if err.response["Error"]["Code"] != "StateMachineDoesNotExist":
            raise


def _stop_running(sfn: Any, machine: str) -> list[str]:
    """Stop the state machine's running executions (batches): return their ARNs."""
    stopped: list[str] = []
    for execution in _executions(sfn, machine, "RUNNING"):
        sfn.stop_execution(
            executionArn=execution["executionArn"],
            error="Teardown",
            cause="the stack is being torn down",
        )
        stopped.append(execution["executionArn"])
    return stopped


def _what(target: Target, delete_model_bucket: bool) -> tuple[list[str], list[str]]:
    """Read the service stack's resources, then list (``listing``)."""
    s = target.settings
    found = cloudformation.resources(target.client("cloudformation"), s.service_stack_name)
    return listing(s, found, delete_model_bucket)


def listing(
    s: Settings, resources: Sequence[StackResource], delete_model_bucket: bool
) -> tuple[list[str], list[str]]:
    """What a teardown deletes and keeps, given the service stack's resources (pure)."""
    doomed = [f"stack {s.service_stack_name}"]
    doomed += [f"  {r.resource_type} {r.logical_id}" for r in resources]
    doomed.append("every object in the batch bucket")
    kept = []
    if delete_model_bucket:
        doomed += [f"stack {s.model_stack_name}", "the model bucket with every model version"]
        kept.append(ACCESS_LOGS_KEPT)
    else:
        kept.append(f"stack {s.model_stack_name} and the model bucket with its versions")
    return doomed, kept


@overload
def teardown(
    confirm: str | None = None,
    *,
    delete_model_bucket: bool = False,
    confirm_model_store: str | None = None,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> TeardownResult: ...


@overload
def teardown(
    confirm: str | None = None,
    *,
    delete_model_bucket: bool = False,
    confirm_model_store: str | None = None,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


@user_facing
def teardown(
    confirm: str | None = None,
    *,
    delete_model_bucket: bool = False,
    confirm_model_store: str | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> TeardownResult | Plan:
    """Delete what deploy created; ``confirm`` must equal the service stack name (and, to delete
    the models too, ``confirm_model_store`` the model stack name). Running batches are stopped,
    and their slices already running (which cannot be stopped) waited for, before the batch
    bucket is emptied."""
    target = target_for(settings)
    s = target.settings
    doomed, kept = _what(target, delete_model_bucket)
    listing = [f"delete {d}" for d in doomed] + [f"keep {k}" for k in kept]
    if dry_run:
        return Plan("teardown", s.target, tuple(listing))
    models_confirmed = confirm_model_store == s.model_stack_name
    if confirm != s.service_stack_name or (delete_model_bucket and not models_confirmed):
        return _refusal(s, listing, kept, delete_model_bucket)
    deleted: list[str] = []
    emptied: list[str] = []
    stopped = _delete_service(target, deleted, emptied)
    buckets = _delete_model_store(target, deleted, emptied) if delete_model_bucket else []
    target.forget_outputs()
    return TeardownResult(
        refused=False,
        deleted_stacks=tuple(deleted),
        emptied_buckets=tuple(emptied),
        deleted_buckets=tuple(buckets),
        kept=tuple(kept),
        stopped_executions=tuple(stopped),
    )


def _refusal(
    s: Settings, listing: list[str], kept: list[str], delete_model_bucket: bool
) -> TeardownResult:
    """Nothing deleted: what it would delete, and the confirmation it needs (Python and CLI)."""
    more = (
        f" and confirm_model_store={s.model_stack_name!r}"
        if delete_model_bucket
        else " (and delete_model_bucket=True with confirm_model_store="
        f"{s.model_stack_name!r} to delete the models)"
    )
    would = "teardown refused, nothing was deleted. It would:\n  " + "\n  ".join(listing)
    flags = f"--confirm {s.service_stack_name}" + (
        f" --delete-model-bucket --confirm-model-store {s.model_stack_name}"
        if delete_model_bucket
        else ""
    )
    more_flags = (
        ""
        if delete_model_bucket
        else f" (and --delete-model-bucket --confirm-model-store {s.model_stack_name} "
        "to delete the models)"
    )
    return TeardownResult(
        refused=True,
        kept=tuple(kept),
        message=f"{would}\nTo proceed pass confirm={s.service_stack_name!r}{more}",
        cli_message=f"{would}\nTo proceed add {flags}{more_flags}",
    )


def _delete_service(target: Target, deleted: list[str], emptied: list[str]) -> list[str]:
    """Stop running batches and wait for their children, empty the batch bucket, delete the
    service stack; the stopped executions."""
    cf, name = target.client("cloudformation"), target.settings.service_stack_name
    if cloudformation.describe(cf, name) is None:
        return []
    service_outputs = cloudformation.outputs(cf, name)
    batch_bucket = service_outputs.get(OUTPUT_KEYS["batch_bucket"])
    machine = service_outputs.get(OUTPUT_KEYS["state_machine_arn"])
    stopped: list[str] = []
    writers_until = time.monotonic()  # until when a batch's children may still write
    if machine:  # a running batch would write into the bucket after it is emptied
        sfn = target.client("stepfunctions")
        stopped = _stop_running(sfn, machine)
        ended = stopped + _recently_ended(sfn, machine)
        if ended:
            writers_until += CHILDREN_WAIT_SECONDS
            _wait_for_children(sfn, ended, writers_until)
    _delete_emptied(target, name, batch_bucket, writers_until)
    if batch_bucket:
        emptied.append(batch_bucket)
    deleted.append(name)
    return stopped


def _recently_ended(sfn: Any, machine: str) -> list[str]:
    """Batches that ended on their own (failed, aborted, timed out) within the time their
    children may outlive them."""
    horizon = datetime.now(UTC) - timedelta(seconds=CHILDREN_WAIT_SECONDS)
    return [
        e["executionArn"]
        for status in ("FAILED", "ABORTED", "TIMED_OUT")
        for e in _executions(sfn, machine, status)
        if e.get("stopDate") is not None and e["stopDate"] >= horizon
    ]


def _children_running(sfn: Any, execution_arn: str) -> int | None:
    """The child executions of a batch's Map Runs that are running, or pending while their Map
    Run still runs (API_MapRunExecutionCounts); None when they cannot be read (a policy from
    before teardown read them: then the delete's retries cover the children)."""
    busy = 0
    try:
        for page in sfn.get_paginator("list_map_runs").paginate(executionArn=execution_arn):
            for run in page.get("mapRuns", []):
                described = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
                counts = described["executionCounts"]
                busy += int(counts.get("running", 0))
                if described.get("status") == "RUNNING":
                    busy += int(counts.get("pending", 0))
    except ClientError as err:
        code = err.response["Error"]["Code"]
        if code in ("AccessDeniedException", "AccessDenied"):
            return None
        if code not in ("ExecutionDoesNotExist", "ResourceNotFound"):
            raise
    return busy


def _wait_for_children(sfn: Any, executions: list[str], until: float) -> None:
    """Until no child of these batches runs (or ``until``: after Express's limit none can; a
    later write is met by the delete's retries)."""
    while time.monotonic() < until:
        counts = [_children_running(sfn, arn) for arn in executions]
        if None in counts or not sum(c or 0 for c in counts):
            return
        time.sleep(CHILDREN_POLL_SECONDS)


def _delete_emptied(target: Target, name: str, bucket: str | None, writers_until: float) -> None:
    """Empty the bucket and delete the stack. A write into the bucket in between (a child of a
    stopped batch) fails the delete on the non-empty bucket (DELETE_FAILED): empty it again and
    retry, at least ``DELETE_ATTEMPTS`` times and while a child may still write."""
    cf, s3 = target.client("cloudformation"), target.client("s3")
    attempt = 0
    while True:
        attempt += 1
        if bucket:
            _empty(s3, bucket)
        try:
            cloudformation.delete(cf, name)
            return
        except DeployError as err:
            if attempt >= DELETE_ATTEMPTS and time.monotonic() >= writers_until:
                raise TeardownError(
                    f"{err}; {attempt} attempts to empty {bucket} and delete the stack failed: "
                    "something still writes into it (a batch's slices?). Wait a few minutes "
                    "and run teardown again"
                ) from err
        time.sleep(DELETE_RETRY_PAUSE_SECONDS)


def _delete_model_store(target: Target, deleted: list[str], emptied: list[str]) -> list[str]:
    """Empty the retained model bucket and schedule the retained signing key's deletion before
    deleting the model stack (whose outputs name them), then delete the emptied bucket; the
    buckets deleted. A teardown stopped by an error before the stack is gone is resumed by
    running it again; after it, only an empty bucket can remain (its name is in the error)."""
    cf, s3, name = (
        target.client("cloudformation"),
        target.client("s3"),
        target.settings.model_stack_name,
    )
    if cloudformation.describe(cf, name) is None:
        return []
    model_outputs = cloudformation.outputs(cf, name)
    model_bucket = model_outputs.get(OUTPUT_KEYS["model_bucket"])
    signing_key = model_outputs.get(OUTPUT_KEYS["signing_key"])
    if model_bucket:
        _empty(s3, model_bucket)  # a refused key stops here: the stack still names the bucket
        emptied.append(model_bucket)
    if signing_key:  # retained by the stack; with the models gone, nothing needs it
        _schedule_key_deletion(target.client("kms"), signing_key)
    cloudformation.delete(cf, name)  # its bucket policy goes; the bucket is retained, empty
    deleted.append(name)
    return [model_bucket] if model_bucket and _delete_bucket(s3, model_bucket) else []


def _delete_bucket(s3: Any, bucket: str) -> bool:
    """Delete an emptied bucket; False if it was gone already."""
    try:
        s3.delete_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchBucket":
            return False
        raise TeardownError(
            f"the model stack is deleted and bucket {bucket} is empty, but deleting the bucket "
            f"failed ({err.response['Error']['Code']}); delete it with `aws s3 rb s3://{bucket}`"
        ) from err
    return True


def _schedule_key_deletion(kms: Any, key_arn: str) -> None:
    """Schedule the key's deletion in 7 days (KMS's shortest window); a key already pending
    deletion (a teardown resumed) is left as it is.
    https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html"""
    key_id = key_arn.rsplit("/", 1)[-1]  # an id: moto accepts no ARN here
    if kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion":
        return
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
