"""run_batch: any number of rows through the state machine; one result row per input row.

Rows go to S3 as JSONL slices with a manifest listing them; the execution input names the
manifest (the state machine's Distributed Map reads it, so neither rows nor the slice list
travel in its state). The function writes one result line per row back to S3; a slice that
fails for good has its caught error written to S3 by the state machine. Results are read back
in input order and stay in the batch bucket under ``batch/<run_id>/``.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import pandas as pd
from tqdm import tqdm

from ops import contract
from ops.aws import live_model
from ops.aws.faults import user_facing
from ops.aws.function import describe_model
from ops.aws.target import Target, target_for
from ops.batch_io import SliceItem, assemble, plan_slices, read_lines, slice_rows_for
from ops.display import Card, Link, Shown
from ops.errors import BatchError, ConfigurationError, ModelNotUploadedError
from ops.plan import Plan
from ops.settings import Settings

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
IO_THREADS = 8


@dataclass(frozen=True)
class BatchResult(Shown):
    """Counts of a finished batch; ``results`` has one row per input row, in order."""

    rows: int
    succeeded: int
    failed: int
    failed_slices: int
    slices: int
    results: pd.DataFrame = field(repr=False, compare=False)
    run_id: str = field(repr=False, compare=False, default="")
    output_uri: str = field(repr=False, compare=False, default="")
    seconds: float = field(repr=False, compare=False, default=0.0)
    timings: dict[str, float] = field(repr=False, compare=False, default_factory=dict)
    model_versions: tuple[str, ...] = field(repr=False, compare=False, default=())
    links: tuple[Link, ...] = field(repr=False, compare=False, default=())

    @property
    def accounted_for(self) -> bool:
        """One result row per input row, in input order."""
        return len(self.results) == self.rows and bool(
            (self.results["row"].to_numpy() == range(self.rows)).all()
        )

    def card(self) -> Card:
        return Card(
            "Batch",
            f"{self.rows:,} rows: {self.succeeded:,} predicted, {self.failed:,} errors",
            ok=self.accounted_for and self.failed_slices == 0,
            key=(
                ("rows", self.rows),
                ("predicted", self.succeeded),
                ("errors", self.failed),
                (
                    "result rows",
                    f"{len(self.results):,}, in input order"
                    if self.accounted_for
                    else f"{len(self.results):,}: NOT one per input row",
                ),
                ("slices", f"{self.slices:,} ({self.failed_slices:,} failed)"),
            ),
            details=(
                ("run id", self.run_id),
                ("results in", self.output_uri),
                ("model version", self.model_versions),
                ("seconds", round(self.seconds, 1) if self.seconds else None),
            ),
            links=self.links,
            notes=("`.results` has one row per input row; `.errors()` the error rows",),
        )

    def record(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "slices": self.slices,
            "failed_slices": self.failed_slices,
            "result_rows": len(self.results),
            "accounted_for": self.accounted_for,
        }

    def errors(self) -> pd.DataFrame:
        """The result rows that are errors (invalid input or a failed slice)."""
        return self.results[self.results["error_type"].notna()]


def _upload(target: Target, bucket: str, items: list[tuple[str, str]]) -> None:
    s3 = target.client("s3")
    with ThreadPoolExecutor(IO_THREADS) as pool:
        list(
            pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1].encode()), items)
        )


@dataclass(frozen=True)
class _Found:
    """What a finished batch left in S3: result records, caught slice errors, model versions."""

    records: list[dict[str, Any]]
    failed_slices: list[dict[str, Any]]
    model_versions: tuple[str, ...]


def _download(target: Target, bucket: str, slices: list[SliceItem]) -> _Found:
    """Each slice's results, or else the error the state machine recorded for it (neither:
    its rows are reported as missing by ``assemble``)."""
    s3 = target.client("s3")

    def read(key: str) -> tuple[bytes, dict[str, str]] | None:
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        return got["Body"].read(), got.get("Metadata") or {}

    def fetch(item: SliceItem) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str | None]:
        output = read(item.output_key)
        if output is not None:
            body, metadata = output
            records = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            return records, None, metadata.get(contract.RESULT_MODEL_METADATA)
        failure = read(item.failure_key)
        if failure is None:
            return [], None, None
        try:
            caught = json.loads(failure[0])
        except ValueError:
            caught = {"Error": "SliceFailed", "Cause": failure[0].decode(errors="replace")}
        return [], {"input_key": item.input_key, "error": caught}, None

    with ThreadPoolExecutor(IO_THREADS) as pool:
        fetched = list(pool.map(fetch, slices))
    return _Found(
        [record for records, _, _ in fetched for record in records],
        [failed for _, failed, _ in fetched if failed is not None],
        tuple(sorted({version for _, _, version in fetched if version})),
    )


def read_results(
    target: Target, bucket: str, slices: list[SliceItem], classes: list[Any] | None
) -> tuple[pd.DataFrame, int, tuple[str, ...]]:
    """One row per input row of a finished batch (its results, or its slice's error), how many
    slices failed, and the model versions that predicted it."""
    found = _download(target, bucket, slices)
    rows = sum(item.rows for item in slices)
    return (
        assemble(rows, found.records, found.failed_slices, slices, classes),
        len(found.failed_slices),
        found.model_versions,
    )


def _wait(
    target: Target,
    execution_arn: str,
    bucket: str,
    prefix: str,
    slices: int,
    progress: bool,
    timeout: float,
) -> dict[str, Any]:
    sfn, s3 = target.client("stepfunctions"), target.client("s3")
    started = time.monotonic()
    bar = tqdm(total=slices, desc="batch slices", unit="slice", disable=not progress)
    try:
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if progress:
                done = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0)
                bar.update(max(0, min(done, slices) - bar.n))
            if described["status"] in TERMINAL:
                bar.update(slices - bar.n if described["status"] == "SUCCEEDED" else 0)
                return dict(described)
            if time.monotonic() - started > timeout:
                raise BatchError(
                    f"batch execution still running after {timeout:.0f} s: {execution_arn}; "
                    "it goes on in the background, results land under s3://"
                    f"{bucket}/{prefix}"
                )
            time.sleep(0.5)
    finally:
        bar.close()


@overload
def run_batch(
    data: Any,
    *,
    slice_rows: int | None = None,
    progress: bool = True,
    timeout: float = 3600.0,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> BatchResult: ...


@overload
def run_batch(
    data: Any,
    *,
    slice_rows: int | None = None,
    progress: bool = True,
    timeout: float = 3600.0,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


@user_facing
def run_batch(
    data: Any,
    *,
    slice_rows: int | None = None,
    progress: bool = True,
    timeout: float = 3600.0,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> BatchResult | Plan:
    """Predict a CSV/JSONL path, a DataFrame or a list of rows through the state machine."""
    lines = read_lines(data)
    n = len(lines)
    if n == 0:
        raise ConfigurationError("the batch input has no rows; pass at least one row")
    size = slice_rows or slice_rows_for(n)
    target = target_for(settings)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    slices = plan_slices(n, run_id, size)
    if dry_run:
        steps = (
            f"cut {n:,} rows into {len(slices)} JSONL slice(s) of up to {size:,} rows",
            f"upload them to the batch bucket under batch/{run_id}/input/, with their list in "
            f"{contract.manifest_key(run_id)}",
            "start the batch state machine on that list and wait for it",
            f"read one result per row back from batch/{run_id}/output/",
        )
        return Plan("run_batch", target.settings.target, steps)
    outputs = target.outputs
    described_model = describe_model(target)
    classes = list(described_model.classes) if described_model.classes is not None else None
    live = live_model.current(target)
    if live is None:
        raise ModelNotUploadedError(
            "no model is live yet; upload one with `python -m ops upload-model`",
            error_type="NoLiveModel",
        )
    started = time.monotonic()
    marks = [started]
    bucket = outputs.batch_bucket
    _upload(
        target,
        bucket,
        [(s.input_key, "\n".join(lines[s.first_row : s.first_row + s.rows])) for s in slices]
        + [(contract.manifest_key(run_id), json.dumps([s.as_item() for s in slices]))],
    )
    marks.append(time.monotonic())
    prefix = f"batch/{run_id}/output/"
    execution = target.client("stepfunctions").start_execution(
        stateMachineArn=outputs.state_machine_arn,
        name=run_id,
        input=json.dumps(
            {
                "manifest_key": contract.manifest_key(run_id),
                "run_id": run_id,
                # every slice invokes this one function version: one model for the whole batch
                "function_version": live.function_version,
            }
        ),
    )
    described = _wait(
        target, execution["executionArn"], bucket, prefix, len(slices), progress, timeout
    )
    if described["status"] != "SUCCEEDED":
        raise BatchError(
            f"batch execution {described['status']}: {described.get('error', '')} "
            f"{str(described.get('cause', ''))[:500]}; partial results are under s3://{bucket}/{prefix}"
        )
    marks.append(time.monotonic())
    results, failed_slices, model_versions = read_results(target, bucket, slices, classes)
    marks.append(time.monotonic())
    failed = int(results["error_type"].notna().sum())
    return BatchResult(
        rows=n,
        succeeded=n - failed,
        failed=failed,
        failed_slices=failed_slices,
        slices=len(slices),
        results=results,
        run_id=run_id,
        output_uri=f"s3://{bucket}/{prefix}",
        seconds=time.monotonic() - started,
        timings={
            name: round(marks[i + 1] - marks[i], 3)
            for i, name in enumerate(("upload", "execute", "download"))
        },
        model_versions=model_versions,
        links=tuple(v for k, v in target.places(outputs).items() if k == "executions"),
    )
