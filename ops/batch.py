"""run_batch: any number of rows through the state machine; one result row per input row.

Rows go to S3 as JSONL slices, the execution input lists the slices (never the rows), the
function writes one result line per row back to S3, and the results are read back in input
order. Results stay in the batch bucket under ``batch/<run_id>/output/``.
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

from ops.aws import live_model
from ops.aws.faults import user_facing
from ops.aws.function import describe_model
from ops.aws.target import Target, target_for
from ops.batch_io import assemble, plan_slices, read_lines, slice_rows_for
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


def _download(target: Target, bucket: str, keys: list[str]) -> list[dict[str, Any]]:
    s3 = target.client("s3")

    def fetch(key: str) -> list[dict[str, Any]]:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except s3.exceptions.NoSuchKey:
            return []
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    with ThreadPoolExecutor(IO_THREADS) as pool:
        return [record for chunk in pool.map(fetch, keys) for record in chunk]


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
            f"upload them to the batch bucket under batch/{run_id}/input/",
            "start the batch state machine with the list of slices and wait for it",
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
        [(s.input_key, "\n".join(lines[s.first_row : s.first_row + s.rows])) for s in slices],
    )
    marks.append(time.monotonic())
    prefix = f"batch/{run_id}/output/"
    execution = target.client("stepfunctions").start_execution(
        stateMachineArn=outputs.state_machine_arn,
        name=run_id,
        input=json.dumps(
            {
                "items": [s.as_item() for s in slices],
                "run_id": run_id,
                "output_prefix": prefix,
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
    summary = json.loads(described.get("output") or "{}")
    records = _download(target, bucket, [s.output_key for s in slices])
    marks.append(time.monotonic())
    results = assemble(n, records, summary.get("failed_slices", []), slices, classes)
    marks.append(time.monotonic())
    failed = int(results["error_type"].notna().sum())
    return BatchResult(
        rows=n,
        succeeded=n - failed,
        failed=failed,
        failed_slices=len(summary.get("failed_slices", [])),
        slices=len(slices),
        results=results,
        run_id=run_id,
        output_uri=f"s3://{bucket}/{prefix}",
        seconds=time.monotonic() - started,
        timings={
            name: round(marks[i + 1] - marks[i], 3)
            for i, name in enumerate(("upload", "execute", "download", "assemble"))
        },
        model_versions=tuple(str(v) for v in summary.get("model_versions") or ()),
        links=tuple(v for k, v in target.places(outputs).items() if k == "executions"),
    )
