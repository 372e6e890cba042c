"""Batch input and output, pure: read rows, cut slices, assemble one result row per input row.

A table (a DataFrame, a CSV or a Parquet file) travels as Parquet slices: the columnar path,
checked and predicted column by column in the function, with no per-row Python on either side.
Rows that are not a table (a list of rows, a JSON Lines file, or a frame whose cells Arrow cannot
type, such as numbers and text mixed in one column) travel as JSON lines and are checked row by
row, as before. Parquet because results left in S3 (``run_batch(download=False)``) are then
readable as they are by pandas, Athena, Glue or Spark; Arrow IPC would be faster to decode but
is not a format those query.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ops.errors import ConfigurationError
from ops.inputs.payloads import to_rows
from reintento_function import contract
from reintento_function.contract import (
    RESULT_ERROR,
    RESULT_ERROR_TYPE,
    RESULT_PREDICTION,
    RESULT_PROBABILITY_PREFIX,
    RESULT_ROW,
    batch_key,
    failure_key,
)

MIN_SLICE_ROWS = 500
# below this many bytes of rows, a slice's fixed costs (an invoke, two S3 requests, a child
# workflow) outweigh its work
MIN_SLICE_BYTES = 1 << 20
# a slice's rows in memory are at most this share of the function's memory: the function holds
# them several times over (the Parquet bytes, the Arrow table, the frame, the model's
# transformed input, the results)
MEMORY_SHARE = 1 / 32
# JSON lines are checked row by row in Python: a slice of them stays a few seconds of work
MAX_JSONL_SLICE_ROWS = 10_000
TARGET_SLICES = 16
# the slice list lives in S3 (the state machine reads it with a Distributed Map), so this only
# bounds how many objects the client writes and reads for one batch; past it, slices grow
MAX_SLICES = 10_000


ROW_FILE_SUFFIXES = (".csv", ".parquet", ".jsonl", ".ndjson", ".json")


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


def _parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise ConfigurationError(
            f"{path.name} is not a readable Parquet file ({type(err).__name__}: "
            f"{str(err)[:120]}); write it with pandas' to_parquet or pyarrow"
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
        raise ConfigurationError(f"{path.name}: rows must be in a .csv, .parquet or .jsonl file")
    return path


@dataclass(frozen=True)
class BatchInput:
    """The rows of a batch: a table (sent as Parquet slices) or JSON lines (row by row)."""

    rows: int
    table: Any = None  # a pyarrow.Table
    lines: tuple[str, ...] | list[str] | None = None

    @property
    def slice_format(self) -> str:
        return "parquet" if self.table is not None else "jsonl"

    @property
    def row_bytes(self) -> float:
        """Bytes per row in memory (the Arrow table's), or per JSON line."""
        if not self.rows:
            return 1.0
        if self.table is not None:
            return max(1.0, float(self.table.nbytes) / self.rows)
        return max(1.0, sum(map(len, self.lines or ())) / self.rows)

    def slice_body(self, first_row: int, rows: int) -> bytes:
        """One slice's bytes: a Parquet file of those rows, or their JSON lines."""
        if self.table is None:
            return "\n".join((self.lines or [])[first_row : first_row + rows]).encode()
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(self.table.slice(first_row, rows), sink)
        return sink.getvalue()


_ONE_TYPE = frozenset({"string", "empty", "floating", "integer", "mixed-integer-float", "boolean"})


def _as_table(frame: pd.DataFrame) -> Any:
    """The frame as an Arrow table, or None when Arrow cannot type a column (cells of mixed
    types, duplicate names): those rows go as JSON lines, checked one by one."""
    import pyarrow as pa

    named = (
        frame.rename(columns=str) if not all(isinstance(c, str) for c in frame.columns) else frame
    )
    for column in [c for c in named.columns if named[c].dtype == np.dtype(object)]:
        # Arrow would make numbers of booleans mixed with numbers; such a column is checked
        # row by row, where a boolean is refused as it is in JSON
        if pd.api.types.infer_dtype(named[column], skipna=True) not in _ONE_TYPE:
            return None
    try:
        return pa.Table.from_pandas(named, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
        return None


@runtime_checkable
class HasBatchInput(Protocol):
    """Rows that know their own batch form (``ops.ModelRows``: a table, or a list of rows)."""

    def batch_input(self) -> Any: ...


def read_input(data: Any) -> BatchInput:
    """A batch's rows: a DataFrame or a CSV/Parquet path as a table; a list of rows or a JSONL
    path as JSON lines (a line that is not JSON is kept: the function answers it with that
    row's error record)."""
    frame: pd.DataFrame | None = None
    if isinstance(data, HasBatchInput):
        data = data.batch_input()
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, str | Path):
        path = _row_file(data)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            frame = _csv(path)
        elif suffix == ".parquet":
            frame = _parquet(path)
    if frame is not None:
        table = _as_table(frame)
        if table is not None:
            return BatchInput(len(frame), table=table)
    lines = read_lines(frame if frame is not None else data)
    return BatchInput(len(lines), lines=lines)


def read_lines(data: Any) -> list[str]:
    """Input as JSON lines: a CSV/JSONL path, a DataFrame, or a list of rows. A JSONL line
    that is not JSON is kept: the function answers it with that row's error record."""
    if isinstance(data, str | Path):
        path = _row_file(data)
        if path.suffix.lower() in (".csv", ".parquet"):
            frame = _csv(path) if path.suffix.lower() == ".csv" else _parquet(path)
            return [json.dumps(row, allow_nan=True) for row in to_rows(frame)]
        return [line for line in _text(path).splitlines() if line.strip()]
    return [json.dumps(row, allow_nan=True) for row in to_rows(data)]


def parse_rows(text: str) -> list[Any]:
    """Rows given as JSON text (one row object or a list of rows), refused with the reason."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ConfigurationError(
            f"--rows is not JSON ({err}); pass one row object or a list of rows, e.g. "
            "'{\"feature\": 1.5, ...}' (`python -m ops check-model` lists the model's features, "
            "`python -m ops sample-rows` prints rows that fit it)"
        ) from err
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and data:
        return data
    raise ConfigurationError(
        f"--rows must be a row object or a non-empty list of rows, got {type(data).__name__}"
    )


def read_rows(data: str | Path) -> Any:
    """Rows of a CSV or Parquet file (a DataFrame) or a JSONL file for a realtime request; every
    JSONL line must be JSON here (realtime requests are refused whole, so it is checked first)."""
    path = _row_file(data)
    if path.suffix.lower() == ".csv":
        return _csv(path)
    if path.suffix.lower() == ".parquet":
        return _parquet(path)
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


def slice_rows_for(
    n_rows: int, row_bytes: float = 100.0, memory_mb: int = 1024, slice_format: str = "parquet"
) -> int:
    """Rows per work item, from the row width: about TARGET_SLICES items (the function's
    parallelism), never so small that fixed costs dominate (MIN_SLICE_BYTES, MIN_SLICE_ROWS),
    never near the function's memory (MEMORY_SHARE of it); at most MAX_SLICES items."""
    most = max(1, int(memory_mb * (1 << 20) * MEMORY_SHARE / max(row_bytes, 1.0)))
    if slice_format == "jsonl":
        most = min(most, MAX_JSONL_SLICE_ROWS)
    least = min(most, max(MIN_SLICE_ROWS, int(MIN_SLICE_BYTES / max(row_bytes, 1.0))))
    size = min(max(math.ceil(n_rows / TARGET_SLICES), least), most)
    return max(size, math.ceil(n_rows / MAX_SLICES))


@dataclass(frozen=True)
class SliceItem:
    """One work item: where its rows are, where its results (or its caught error) go."""

    input_key: str
    output_key: str
    failure_key: str
    first_row: int
    rows: int
    probabilities: bool = True  # results carry each class's probability (else labels only)

    def as_item(self) -> dict[str, Any]:
        """The manifest's item: what the Distributed Map passes on (contract.SLICE_FIELDS)
        and where the state machine records a failure."""
        return {
            contract.SLICE_INPUT_KEY: self.input_key,
            contract.SLICE_OUTPUT_KEY: self.output_key,
            contract.SLICE_FAILURE_KEY: self.failure_key,
            contract.SLICE_FIRST_ROW: self.first_row,
            contract.SLICE_ROWS: self.rows,
            contract.SLICE_PROBABILITIES: self.probabilities,
        }


def plan_slices(
    n_rows: int,
    run_id: str,
    slice_rows: int,
    slice_format: str = "parquet",
    probabilities: bool = True,
) -> list[SliceItem]:
    return [
        SliceItem(
            batch_key(run_id, "input", i, slice_format),
            batch_key(run_id, "output", i, slice_format),
            failure_key(run_id, i),
            i,
            min(slice_rows, n_rows - i),
            probabilities,
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
        by_row[int(record[RESULT_ROW])] = record
    slice_errors = {
        f.get(contract.SLICE_INPUT_KEY): f.get(contract.ANSWER_ERROR) or {} for f in failed_slices
    }
    for item in slices:
        caught = slice_errors.get(item.input_key)
        for row in range(item.first_row, item.first_row + item.rows):
            if row in by_row:
                continue
            if caught is not None:
                error = {
                    contract.ERROR_TYPE: caught.get("Error", "SliceFailed"),
                    contract.ERROR_MESSAGE: str(caught.get("Cause", ""))[:500],
                }
            else:
                error = {
                    contract.ERROR_TYPE: "ResultMissing",
                    contract.ERROR_MESSAGE: f"no result for row {row} in {item.output_key}",
                }
            by_row[row] = {RESULT_ROW: row, contract.ANSWER_ERROR: error}
    rows = [by_row[i] for i in range(n_rows)]
    frame = pd.DataFrame({RESULT_ROW: range(n_rows)})
    frame[RESULT_PREDICTION] = pd.Series([r.get(RESULT_PREDICTION) for r in rows], dtype=object)
    probabilities = contract.ANSWER_PROBABILITIES
    if classes:
        for j, label in enumerate(classes):
            frame[f"{RESULT_PROBABILITY_PREFIX}{label}"] = [
                r[probabilities][j] if probabilities in r else None for r in rows
            ]
    errors = [r.get(contract.ANSWER_ERROR) for r in rows]
    frame[RESULT_ERROR_TYPE] = [e.get(contract.ERROR_TYPE) if e else None for e in errors]
    frame[RESULT_ERROR] = [_error_text(e) if e else None for e in errors]
    return frame


def parquet_results(item: SliceItem, body: bytes, classes: list[Any] | None) -> pd.DataFrame:
    """A Parquet result slice as a frame (``assemble``'s columns); one that does not hold
    exactly the slice's rows, in order, counts as missing (its rows become errors)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(io.BytesIO(body)).to_pandas(
            ignore_metadata=True, integer_object_nulls=True
        )
        rows = frame[RESULT_ROW].to_numpy()
    except (pa.ArrowException, OSError, ValueError, KeyError) as err:
        return error_rows(
            item, "ResultMissing", f"unreadable results in {item.output_key}: {err}", classes
        )
    expected = range(item.first_row, item.first_row + item.rows)
    if len(rows) != item.rows or not bool((rows == expected).all()):
        return error_rows(
            item,
            "ResultMissing",
            f"{item.output_key} has {len(rows)} result rows for {item.rows} input rows",
            classes,
        )
    return frame


def error_rows(
    item: SliceItem, error_type: str, message: str, classes: list[Any] | None
) -> pd.DataFrame:
    """Every row of a slice as the same error (its slice failed, or its results are missing)."""
    n = item.rows
    first = item.first_row
    frame = pd.DataFrame({RESULT_ROW: np.arange(first, first + n, dtype=np.int64)})
    frame[RESULT_PREDICTION] = pd.Series([None] * n, dtype=object)
    for label in classes or ():
        frame[f"{RESULT_PROBABILITY_PREFIX}{label}"] = np.full(n, np.nan)
    frame[RESULT_ERROR_TYPE] = pd.Series([error_type] * n, dtype=object)
    frame[RESULT_ERROR] = pd.Series([message[:500]] * n, dtype=object)
    return frame


def _error_text(error: dict[str, Any]) -> str:
    details = error.get(contract.ERROR_DETAILS)
    if details:
        return "; ".join(
            f"{d.get(contract.DETAIL_FIELD)}: {d.get(contract.DETAIL_PROBLEM)}" for d in details
        )
    return str(error.get(contract.ERROR_MESSAGE, error.get(contract.ERROR_TYPE, "error")))
