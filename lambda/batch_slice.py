"""One batch work item: read a JSONL slice from S3, predict it, write one result line per row.

Event: ``{"batch_slice": {"bucket", "input_key", "output_key", "first_row", "rows"}}``.
Every input line yields exactly one output line (``{"row": n, "prediction": ...}`` or
``{"row": n, "error": {...}}``), so no row is lost even when some are invalid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from inference_core import ModelSchema, loads_strict, predict_records
from inference_errors import BatchSliceError
from model_loader import LoadedModel


@dataclass(frozen=True)
class SliceRef:
    """Where a work item's rows are and where its results go."""

    bucket: str
    input_key: str
    output_key: str
    first_row: int

    @classmethod
    def from_event(cls, item: Any) -> SliceRef:
        if not isinstance(item, Mapping):
            raise BatchSliceError("batch_slice must be an object with bucket/input_key/output_key")
        try:
            return cls(
                str(item["bucket"]),
                str(item["input_key"]),
                str(item["output_key"]),
                int(item.get("first_row", 0)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise BatchSliceError(f"batch_slice is missing or has a bad field: {err}") from err


def parse_lines(text: str) -> list[Any]:
    """One element per non-empty line; a line that is not JSON becomes a marker the core refuses."""
    rows: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(loads_strict(line))
        except ValueError as err:
            rows.append(_Unparsable(str(err)))
    return rows


class _Unparsable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def predict_lines(
    text: str, estimator: Any, schema: ModelSchema, first_row: int
) -> list[dict[str, Any]]:
    """One record per non-empty line, in order: a prediction, or an error (bad row or not JSON)."""
    rows = parse_lines(text)
    parsable = [r for r in rows if not isinstance(r, _Unparsable)]
    predicted = iter(predict_records(estimator, schema, parsable, 0))
    records: list[dict[str, Any]] = []
    for offset, row in enumerate(rows):
        if isinstance(row, _Unparsable):
            problem = {"field": None, "problem": f"not JSON: {row.reason}"}
            record: dict[str, Any] = {"error": {"type": "InvalidInput", "details": [problem]}}
        else:
            record = next(predicted)
        record["row"] = first_row + offset
        records.append(record)
    return records


def run_slice(s3: Any, ref: SliceRef, model: LoadedModel) -> dict[str, Any]:
    """Predict one slice and write its results; return the counts."""
    try:
        body = s3.get_object(Bucket=ref.bucket, Key=ref.input_key)["Body"].read()
    except ClientError as err:
        raise BatchSliceError(f"cannot read s3://{ref.bucket}/{ref.input_key}: {err}") from err
    text = body.decode("utf-8", errors="replace")
    records = predict_lines(text, model.estimator, model.schema, ref.first_row)
    failed = sum(1 for r in records if "error" in r)
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    try:
        s3.put_object(
            Bucket=ref.bucket,
            Key=ref.output_key,
            Body=("\n".join(lines) + "\n").encode(),
            ContentType="application/x-ndjson",
        )
    except ClientError as err:
        raise BatchSliceError(f"cannot write s3://{ref.bucket}/{ref.output_key}: {err}") from err
    return {
        "input_key": ref.input_key,
        "output_key": ref.output_key,
        "first_row": ref.first_row,
        "rows": len(records),
        "succeeded": len(records) - failed,
        "failed": failed,
        "model": model.describe(),
    }


def summarize(items: Any) -> dict[str, Any]:
    """Totals of a Map's results; a caught work item counts all its rows as failed."""
    rows = succeeded = failed = 0
    failed_slices: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        count = int(item.get("rows", 0))
        rows += count
        if "slice_error" in item:
            failed += count
            failed_slices.append({"input_key": item.get("input_key"), "error": item["slice_error"]})
        else:
            succeeded += int(item.get("succeeded", 0))
            failed += int(item.get("failed", 0))
    return {"rows": rows, "succeeded": succeeded, "failed": failed, "failed_slices": failed_slices}
