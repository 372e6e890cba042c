"""run_batch: any number of rows through the state machine; one result row per input row.

Rows go to S3 as slices (Parquet for a table, JSON lines otherwise: ``ops.inputs.batch_io``) with a
manifest listing them; the execution input names the manifest (the state machine's Distributed
Map reads it, so neither rows nor the slice list travel in its state). The function writes one
result per row back to S3, in the slice's format, with the slice's counts as object metadata; a
slice that fails for good has its caught error written to S3 by the state machine. Results are
read back in input order (or, with ``download=False``, only counted) and stay in the batch
bucket under ``batch/<run_id>/`` until the bucket's expiry.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import pandas as pd
from botocore.exceptions import ClientError
from tqdm import tqdm

from ops.aws.faults import user_facing
from ops.display import Card, Link, Plan, Shown
from ops.errors import BatchError, ConfigurationError, ModelNotUploadedError
from ops.inputs import validate
from ops.inputs.batch_io import (
    BatchInput,
    SliceItem,
    assemble,
    error_rows,
    parquet_results,
    plan_slices,
    read_input,
    slice_rows_for,
)
from ops.service import live_model
from ops.service.function import describe_model
from ops.service.signing import sign
from ops.settings import Settings
from ops.targets import Target, target_for
from reintento_function import contract

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
    # one row per input row; None when the results were left in S3 (``download=False``)
    results: pd.DataFrame | None = field(repr=False, compare=False)
    run_id: str = field(repr=False, compare=False, default="")
    output_uri: str = field(repr=False, compare=False, default="")
    seconds: float = field(repr=False, compare=False, default=0.0)
    timings: dict[str, float] = field(repr=False, compare=False, default_factory=dict)
    model_versions: tuple[str, ...] = field(repr=False, compare=False, default=())
    links: tuple[Link, ...] = field(repr=False, compare=False, default=())
    # rows the results in S3 account for (their metadata), when they were not downloaded
    counted: int = field(repr=False, compare=False, default=0)
    # the result objects, in input order (Parquet or JSON lines; column/field `row`)
    result_keys: tuple[str, ...] = field(repr=False, compare=False, default=())

    @property
    def downloaded(self) -> bool:
        return self.results is not None

    @property
    def result_rows(self) -> int:
        return len(self.results) if self.results is not None else self.counted

    @property
    def accounted_for(self) -> bool:
        """One result row per input row, in input order (counted in S3 when not downloaded)."""
        if self.results is None:
            return self.counted == self.rows
        return len(self.results) == self.rows and bool(
            (self.results[contract.RESULT_ROW].to_numpy() == range(self.rows)).all()
        )

    @property
    def ok(self) -> bool:
        """Every row accounted for, no slice failed, and some row predicted (a batch whose
        every row is refused has a problem with all of them: its first error says which)."""
        predicted = self.succeeded > 0 or self.rows == 0
        return self.accounted_for and self.failed_slices == 0 and predicted

    def _first_error(self) -> str | None:
        if self.succeeded or not self.rows or self.results is None:
            return None
        errors = self.results[contract.RESULT_ERROR].dropna()
        return f"every row refused; the first: {errors.iloc[0]}" if len(errors) else None

    def card(self) -> Card:
        return Card(
            "Batch",
            f"{self.rows:,} rows: {self.succeeded:,} predicted, {self.failed:,} errors",
            ok=self.ok,
            key=(
                ("rows", self.rows),
                ("predicted", self.succeeded),
                ("errors", self.failed),
                (
                    "result rows",
                    f"{self.result_rows:,}, in input order"
                    + ("" if self.downloaded else f", left in {self.output_uri}")
                    if self.accounted_for
                    else f"{self.result_rows:,}: NOT one per input row",
                ),
                ("slices", f"{self.slices:,} ({self.failed_slices:,} failed)"),
            ),
            details=(
                ("problem", self._first_error()),
                ("run id", self.run_id),
                ("results in", self.output_uri),
                ("model version", self.model_versions),
                ("seconds", round(self.seconds, 1) if self.seconds else None),
            ),
            links=self.links,
            python_notes=(
                ("`.results` has one row per input row; `.errors()` the error rows",)
                if self.downloaded
                else ()
            ),
            cli_notes=(
                ("`--output results.parquet` (or .csv, .jsonl) writes one row per input row",)
                if self.downloaded
                else ()
            ),
            notes=(
                ()
                if self.downloaded
                else (
                    f"results stay in {self.output_uri} (one object per slice, column `row` is "
                    "the input row): pandas.read_parquet reads them as they are",
                )
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "slices": self.slices,
            "failed_slices": self.failed_slices,
            "result_rows": self.result_rows,
            "accounted_for": self.accounted_for,
        }

    def errors(self) -> pd.DataFrame:
        """The result rows that are errors (invalid input or a failed slice)."""
        if self.results is None:
            raise ConfigurationError(
                f"the results were left in S3 ({self.output_uri}); run the batch with "
                "download=True, or read them with pandas.read_parquet"
            )
        return self.results[self.results[contract.RESULT_ERROR_TYPE].notna()]


def _failed_slice(item: SliceItem, caught: dict[str, Any]) -> dict[str, Any]:
    """A slice that failed for good: its input and the error the state machine caught."""
    return {contract.SLICE_INPUT_KEY: item.input_key, contract.ANSWER_ERROR: caught}


def _upload(target: Target, bucket: str, rows: BatchInput, slices: list[SliceItem]) -> None:
    """Each slice's bytes are made and sent in a worker thread (Parquet encoding and the
    requests overlap). The caller writes the manifest after, once every slice is there."""
    s3 = target.client("s3")

    def send(item: SliceItem) -> None:
        body = rows.slice_body(item.first_row, item.rows)
        s3.put_object(Bucket=bucket, Key=item.input_key, Body=body)

    with ThreadPoolExecutor(IO_THREADS) as pool:
        list(pool.map(send, slices))


@dataclass(frozen=True)
class _Found:
    """What a finished batch left in S3: one frame per slice (results or its rows as errors)
    for Parquet runs, result records and caught slice errors for JSON-lines runs, and the model
    versions that predicted it."""

    frames: list[pd.DataFrame]
    records: list[dict[str, Any]]
    failed_slices: list[dict[str, Any]]
    model_versions: tuple[str, ...]


def _caught(body: bytes) -> dict[str, Any]:
    try:
        caught = json.loads(body)
    except ValueError:
        caught = None
    if not isinstance(caught, dict):
        caught = {"Error": "SliceFailed", "Cause": body.decode(errors="replace")}
    return caught


def _download(
    target: Target, bucket: str, slices: list[SliceItem], classes: list[Any] | None
) -> _Found:
    """Each slice's results, or else the error the state machine recorded for it (neither:
    its rows are reported as missing)."""
    s3 = target.client("s3")

    def read(key: str) -> tuple[bytes, dict[str, str]] | None:
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return None
        return got["Body"].read(), got.get("Metadata") or {}

    def fetch(item: SliceItem) -> tuple[Any, dict[str, Any] | None, str | None]:
        parquet = item.output_key.endswith(".parquet")
        output = read(item.output_key)
        if output is not None:
            body, metadata = output
            version = metadata.get(contract.RESULT_MODEL_METADATA)
            if parquet:
                return parquet_results(item, body, classes), None, version
            records = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            return records, None, version
        failure = read(item.failure_key)
        caught = _caught(failure[0]) if failure is not None else None
        if not parquet:
            failed = _failed_slice(item, caught) if caught else None
            return [], failed, None
        if caught is None:
            missing = f"no results in {item.output_key} and no recorded failure"
            return error_rows(item, "ResultMissing", missing, classes), None, None
        error_type = str(caught.get("Error", "SliceFailed"))
        frame = error_rows(item, error_type, str(caught.get("Cause", "")), classes)
        return frame, _failed_slice(item, caught), None

    with ThreadPoolExecutor(IO_THREADS) as pool:
        fetched = list(pool.map(fetch, slices))
    frames = [got for got, _, _ in fetched if isinstance(got, pd.DataFrame)]
    return _Found(
        frames,
        [record for got, _, _ in fetched if isinstance(got, list) for record in got],
        [failed for _, failed, _ in fetched if failed is not None],
        tuple(sorted({version for _, _, version in fetched if version})),
    )


def read_results(
    target: Target, bucket: str, slices: list[SliceItem], classes: list[Any] | None
) -> tuple[pd.DataFrame, int, tuple[str, ...]]:
    """One row per input row of a finished batch (its results, or its slice's error), how many
    slices failed, and the model versions that predicted it."""
    found = _download(target, bucket, slices, classes)
    return _assembled(found, slices, classes), len(found.failed_slices), found.model_versions


def _assembled(found: _Found, slices: list[SliceItem], classes: list[Any] | None) -> pd.DataFrame:
    """One row per input row: the Parquet slices' frames end to end (each checked to hold its
    slice's rows), or the JSON-lines records placed by row number."""
    if found.frames:
        return pd.concat(found.frames, ignore_index=True)
    rows = sum(item.rows for item in slices)
    return assemble(rows, found.records, found.failed_slices, slices, classes)


@dataclass(frozen=True)
class _Counted:
    """A batch's counts from its result objects' metadata (nothing downloaded)."""

    rows: int
    failed: int
    failed_slices: int
    model_versions: tuple[str, ...]


def count_results(target: Target, bucket: str, slices: list[SliceItem]) -> _Counted:
    """Counts of a finished batch from one HEAD request per slice: the function writes each
    slice's row and error counts as its result object's metadata; a slice without results has
    all its rows as errors."""
    s3 = target.client("s3")

    def head(item: SliceItem) -> tuple[int, int, bool, str | None]:
        try:
            metadata = s3.head_object(Bucket=bucket, Key=item.output_key).get("Metadata") or {}
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            return item.rows, item.rows, True, None
        rows = int(metadata.get(contract.RESULT_ROWS_METADATA, -1))
        failed = int(metadata.get(contract.RESULT_FAILED_METADATA, item.rows))
        if rows != item.rows:  # not this slice's results: count its rows as errors
            return item.rows, item.rows, True, None
        return rows, failed, False, metadata.get(contract.RESULT_MODEL_METADATA)

    with ThreadPoolExecutor(IO_THREADS) as pool:
        heads = list(pool.map(head, slices))
    return _Counted(
        sum(h[0] for h in heads),
        sum(h[1] for h in heads),
        sum(h[2] for h in heads),
        tuple(sorted({h[3] for h in heads if h[3]})),
    )


def results_so_far(s3: Any, bucket: str, prefix: str) -> int:
    """How many result objects are under ``prefix``: every page of the listing (a page holds
    at most 1,000 keys, and a batch has up to ``batch_io.MAX_SLICES`` slices)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(int(page.get("KeyCount", 0)) for page in pages)


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
    # TQDM_DISABLE (tqdm's own switch; run-notebooks sets it: a run's record holds no bars)
    quiet = not progress or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true")
    bar = tqdm(total=slices, desc="batch slices", unit="slice", disable=quiet)
    try:
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if progress:
                done = results_so_far(s3, bucket, prefix)
                bar.update(max(0, min(done, slices) - bar.n))
            if described["status"] in TERMINAL:
                bar.update(slices - bar.n if described["status"] == "SUCCEEDED" else 0)
                target.note_calls_ended()  # its slices' metrics arrive a little later
                return dict(described)
            if time.monotonic() - started > timeout:
                raise BatchError(
                    f"batch execution still running after {timeout:.0f} s: {execution_arn}; "
                    "it goes on in the background, results land under s3://"
                    f"{bucket}/{prefix}"
                )
            # a tenth of a second at first, then a twentieth of the time so far (at most 1 s): a
            # short batch is seen done soon after it is, a long one polls about once a second
            time.sleep(min(1.0, max(0.1, (time.monotonic() - started) / 20)))
    finally:
        bar.close()


@overload
def run_batch(
    data: Any,
    *,
    slice_rows: int | None = None,
    progress: bool = True,
    timeout: float = 3600.0,
    download: bool = True,
    probabilities: bool = True,
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
    download: bool = True,
    probabilities: bool = True,
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
    download: bool = True,
    probabilities: bool = True,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> BatchResult | Plan:
    """Predict a DataFrame, a CSV/Parquet/JSONL path or a list of rows through the state
    machine. ``download=False`` leaves the results in S3 and counts them from their metadata;
    ``probabilities=False`` asks for labels only (what ``model.predict`` returns)."""
    if slice_rows is not None:
        validate.integer("slice_rows", slice_rows, low=1, high=10**9)
    rows = read_input(data)
    if rows.rows == 0:
        raise ConfigurationError("the batch input has no rows; pass at least one row")
    target = target_for(settings)
    run_id = contract.new_run_id()
    if dry_run:
        size = slice_rows or slice_rows_for(
            rows.rows, rows.row_bytes, slice_format=rows.slice_format
        )
        return _plan(target.settings.target, rows, run_id, size, probabilities, download)
    live = _LiveBatch.of(target, probabilities)
    size = slice_rows or slice_rows_for(
        rows.rows, rows.row_bytes, live.memory_mb, rows.slice_format
    )
    slices = plan_slices(rows.rows, run_id, size, rows.slice_format, probabilities)
    clock = _Clock()
    bucket = target.outputs.batch_bucket
    _upload(target, bucket, rows, slices)
    _put_manifest(target, bucket, run_id, slices)
    put_ticket(target, live.ticket(run_id, rows, size, probabilities))
    clock.mark("upload")
    _execute(target, run_id, live.function_version, len(slices), progress, timeout)
    clock.mark("execute")
    tally = _collect(target, bucket, slices, live.classes if download else None, download, clock)
    return BatchResult(
        rows=rows.rows,
        succeeded=rows.rows - tally.failed,
        failed=tally.failed,
        failed_slices=tally.failed_slices,
        slices=len(slices),
        results=tally.results,
        run_id=run_id,
        output_uri=f"s3://{bucket}/{contract.batch_prefix(run_id, 'output')}",
        seconds=clock.total(),
        timings=clock.timings,
        model_versions=tally.model_versions,
        links=tuple(v for k, v in target.places(target.outputs).items() if k == "executions"),
        counted=tally.rows,
        result_keys=tuple(s.output_key for s in slices),
    )


def _plan(
    target_name: str,
    rows: BatchInput,
    run_id: str,
    size: int,
    probabilities: bool,
    download: bool,
) -> Plan:
    """What run_batch would do (pure: nothing is read or written)."""
    slices = plan_slices(rows.rows, run_id, size, rows.slice_format, probabilities)
    output = contract.batch_prefix(run_id, "output")
    steps = (
        f"cut {rows.rows:,} rows into {len(slices)} {rows.slice_format} slice(s) of up to "
        f"{size:,} rows (about {rows.row_bytes:,.0f} bytes per row)",
        f"upload them to the batch bucket under {contract.batch_prefix(run_id, 'input')}, "
        f"with their list in {contract.manifest_key(run_id)}",
        "start the batch state machine on that list and wait for it",
        f"read one result per row back from {output}"
        if download
        else f"count the results in {output} (left there)",
    )
    return Plan("run_batch", target_name, steps)


@dataclass(frozen=True)
class _LiveBatch:
    """What a batch needs of the live model: its function version, memory and classes."""

    function_version: str
    memory_mb: int
    classes: list[Any] | None

    @classmethod
    def of(cls, target: Target, probabilities: bool) -> _LiveBatch:
        described = describe_model(target)
        live = live_model.current(target)
        if live is None:
            raise ModelNotUploadedError(
                "no model is live yet; upload one with `python -m ops upload-model`",
                error_type="NoLiveModel",
            )
        configuration = target.client("lambda").get_function_configuration(
            FunctionName=target.outputs.function_name, Qualifier=live.function_version
        )
        return cls(
            function_version=live.function_version,
            memory_mb=int(configuration["MemorySize"]),
            classes=(
                list(described.classes) if described.classes is not None and probabilities else None
            ),
        )

    def ticket(
        self, run_id: str, rows: BatchInput, slice_rows: int, probabilities: bool
    ) -> contract.RunTicket:
        """What ops signs about this run (the function runs only its work items)."""
        return contract.RunTicket(
            run_id=run_id,
            function_version=self.function_version,
            rows=rows.rows,
            slice_rows=slice_rows,
            slice_format=rows.slice_format,
            probabilities=probabilities,
        )


class _Clock:
    """Seconds spent in each named step of a batch, in order."""

    def __init__(self) -> None:
        self.started = self._last = time.monotonic()
        self.timings: dict[str, float] = {}

    def mark(self, step: str) -> None:
        now = time.monotonic()
        self.timings[step] = round(now - self._last, 3)
        self._last = now

    def total(self) -> float:
        return time.monotonic() - self.started


def _put_manifest(target: Target, bucket: str, run_id: str, slices: list[SliceItem]) -> None:
    """The run's slice list, which the Distributed Map reads (it never enters the state)."""
    target.client("s3").put_object(
        Bucket=bucket,
        Key=contract.manifest_key(run_id),
        Body=json.dumps([s.as_item() for s in slices]).encode(),
    )


def put_ticket(target: Target, ticket: contract.RunTicket) -> None:
    """The run's ticket, signed with the deployer's key: the function runs only work items that
    are exactly one of this run's slices, on this function version (work_items.py)."""
    signed = dataclasses.replace(ticket, signature=sign(target, ticket.message))
    target.client("s3").put_object(
        Bucket=target.outputs.batch_bucket,
        Key=contract.run_ticket_key(ticket.run_id),
        Body=signed.body(),
    )


def _execute(
    target: Target,
    run_id: str,
    function_version: str,
    slices: int,
    progress: bool,
    timeout: float,
) -> None:
    """Start the state machine on the run's manifest and wait for it to succeed."""
    bucket = target.outputs.batch_bucket
    prefix = contract.batch_prefix(run_id, "output")
    execution = target.client("stepfunctions").start_execution(
        stateMachineArn=target.outputs.state_machine_arn,
        name=run_id,
        input=json.dumps(
            {
                contract.EXECUTION_MANIFEST_KEY: contract.manifest_key(run_id),
                contract.EXECUTION_RUN_ID: run_id,
                # every slice invokes this one function version: one model for the whole batch
                contract.EXECUTION_FUNCTION_VERSION: function_version,
            }
        ),
    )
    described = _wait(target, execution["executionArn"], bucket, prefix, slices, progress, timeout)
    if described["status"] != "SUCCEEDED":
        raise BatchError(
            f"batch execution {described['status']}: {described.get('error', '')} "
            f"{str(described.get('cause', ''))[:500]}; partial results are under s3://{bucket}/{prefix}"
        )


@dataclass(frozen=True)
class _Collected:
    """A finished batch's results: downloaded (``results``) or only counted in S3."""

    failed: int
    failed_slices: int
    model_versions: tuple[str, ...]
    rows: int
    results: pd.DataFrame | None = None


def _collect(
    target: Target,
    bucket: str,
    slices: list[SliceItem],
    classes: list[Any] | None,
    download: bool,
    clock: _Clock,
) -> _Collected:
    """Read one result per row back in input order, or count them from their metadata."""
    if not download:
        tally = count_results(target, bucket, slices)
        clock.mark("download")
        clock.mark("assemble")
        return _Collected(
            failed=tally.failed,
            failed_slices=tally.failed_slices,
            model_versions=tally.model_versions,
            rows=tally.rows,
        )
    found = _download(target, bucket, slices, classes)
    clock.mark("download")
    results = _assembled(found, slices, classes)
    clock.mark("assemble")
    return _Collected(
        failed=int(results[contract.RESULT_ERROR_TYPE].notna().sum()),
        failed_slices=len(found.failed_slices),
        model_versions=found.model_versions,
        rows=len(results),
        results=results,
    )
