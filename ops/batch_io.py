"""Batch input and output, pure: read rows, cut JSONL slices, assemble one record per row."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ops.contract import batch_key, failure_key
from ops.errors import ConfigurationError
from ops.payloads import to_rows

MIN_SLICE_ROWS = 500
MAX_SLICE_ROWS = 10_000
TARGET_SLICES = 16
# the slice list lives in S3 (the state machine reads it with a Distributed Map), so this only
# bounds how many objects the client writes and reads for one batch; past it, slices grow
MAX_SLICES = 10_000


ROW_FILE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")


def _csv(path: Path) -> pd.DataFrame:
    """A CSV file as a frame; an unreadable one is a ConfigurationError that says why."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError as err:
        raise ConfigurationError(f"{path.name} is empty; a CSV needs a header and rows") from err
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as err:
        raise ConfigurationError(
            f"{path.name} is not a readable CSV file ({type(err).__name__}); save it as UTF-8 "
            "CSV with a header line"
        ) from err


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigurationError(f"{path.name} is not UTF-8 text; save it as UTF-8") from err


def _row_file(data: str | Path) -> Path:
    path = Path(data)
    if not path.is_file():
        raise ConfigurationError(f"no rows file at {path}; pass a CSV/JSONL path or a DataFrame")
    if path.suffix.lower() not in ROW_FILE_SUFFIXES:
        raise ConfigurationError(f"{path.name}: rows must be in a .csv or .jsonl file")
    return path


def read_lines(data: Any) -> list[str]:
    """Input as JSON lines: a CSV/JSONL path, a DataFrame, or a list of rows. A JSONL line
    that is not JSON is kept: the function answers it with that row's error record."""
    if isinstance(data, str | Path):
        path = _row_file(data)
        if path.suffix.lower() == ".csv":
            return [json.dumps(row) for row in to_rows(_csv(path))]
        return [line for line in _text(path).splitlines() if line.strip()]
    return [json.dumps(row, allow_nan=True) for row in to_rows(data)]


def parse_rows(text: str) -> list[Any]:
    """Rows given as JSON text (one row object or a list of rows), refused with the reason."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ConfigurationError(
            f"--rows is not JSON ({err}); pass one row object or a list of rows, e.g. "
            "'{\"latencia_ms\": 120.5, ...}'"
        ) from err
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and data:
        return data
    raise ConfigurationError(
        f"--rows must be a row object or a non-empty list of rows, got {type(data).__name__}"
    )


def read_rows(data: str | Path) -> Any:
    """Rows of a CSV (a DataFrame) or JSONL file for a realtime request; every line must be
    JSON here (realtime requests are refused whole, so the file is checked first)."""
    path = _row_file(data)
    if path.suffix.lower() == ".csv":
        return _csv(path)
    rows = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as err:
            raise ConfigurationError(f"{path.name} line {number} is not JSON ({err})") from err
    if not rows:
        raise ConfigurationError(f"{path.name} has no rows")
    return rows


def slice_rows_for(n_rows: int) -> int:
    """Rows per work item: about TARGET_SLICES items, within [MIN, MAX] rows, <= MAX_SLICES."""
    size = math.ceil(n_rows / TARGET_SLICES) if n_rows else MIN_SLICE_ROWS
    size = min(max(size, MIN_SLICE_ROWS), MAX_SLICE_ROWS)
    return max(size, math.ceil(n_rows / MAX_SLICES))


@dataclass(frozen=True)
class SliceItem:
    """One work item: where its rows are, where its results (or its caught error) go."""

    input_key: str
    output_key: str
    failure_key: str
    first_row: int
    rows: int

    def as_item(self) -> dict[str, Any]:
        return {
            "input_key": self.input_key,
            "output_key": self.output_key,
            "failure_key": self.failure_key,
            "first_row": self.first_row,
            "rows": self.rows,
        }


def plan_slices(n_rows: int, run_id: str, slice_rows: int) -> list[SliceItem]:
    return [
        SliceItem(
            batch_key(run_id, "input", i),
            batch_key(run_id, "output", i),
            failure_key(run_id, i),
            i,
            min(slice_rows, n_rows - i),
        )
        for i in range(0, n_rows, slice_rows)
    ]


def assemble(
    n_rows: int,
    records: list[dict[str, Any]],
    failed_slices: list[dict[str, Any]],
    slices: list[SliceItem],
    classes: list[Any] | None,
) -> pd.DataFrame:
    """One row per input row, in input order: prediction (and probabilities) or error."""
    by_row: dict[int, dict[str, Any]] = {}
    for record in records:
        by_row[int(record["row"])] = record
    slice_errors = {f.get("input_key"): f.get("error") or {} for f in failed_slices}
    for item in slices:
        caught = slice_errors.get(item.input_key)
        for row in range(item.first_row, item.first_row + item.rows):
            if row in by_row:
                continue
            if caught is not None:
                error = {
                    "type": caught.get("Error", "SliceFailed"),
                    "message": str(caught.get("Cause", ""))[:500],
                }
            else:
                error = {
                    "type": "ResultMissing",
                    "message": f"no result for row {row} in {item.output_key}",
                }
            by_row[row] = {"row": row, "error": error}
    rows = [by_row[i] for i in range(n_rows)]
    frame = pd.DataFrame({"row": range(n_rows)})
    frame["prediction"] = pd.Series([r.get("prediction") for r in rows], dtype=object)
    if classes:
        for j, label in enumerate(classes):
            frame[f"p_{label}"] = [
                r["probabilities"][j] if "probabilities" in r else None for r in rows
            ]
    frame["error_type"] = [r["error"].get("type") if "error" in r else None for r in rows]
    frame["error"] = [_error_text(r["error"]) if "error" in r else None for r in rows]
    return frame


def _error_text(error: dict[str, Any]) -> str:
    details = error.get("details")
    if details:
        return "; ".join(f"{d.get('field')}: {d.get('problem')}" for d in details)
    return str(error.get("message", error.get("type", "error")))
