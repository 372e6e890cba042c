"""A Parquet batch slice in, a Parquet result slice out: the columnar path of a batch.

Rows arrive as a table, are checked column by column (``frame_check``), the valid ones are
predicted in one call, and the results leave as a table with one row per input row (contract
``RESULT_*`` columns): no per-row Python on the way unless rows are refused (their messages) or
a column needs the row-by-row check (then the rows go through ``predict_records``, as JSON lines
do). pyarrow is imported here only, on the first batch slice, so a realtime call never loads
it; pandas only when the scikit-learn engine needs a frame for the model (the compiled engine
is fed NumPy columns).
"""

from __future__ import annotations

import functools
import io
import json
import sys
from typing import Any

import numpy as np
import pyarrow as pa

from reintento_function import contract
from reintento_function.contract import (
    RESULT_ERROR,
    RESULT_ERROR_TYPE,
    RESULT_PREDICTION,
    RESULT_PROBABILITY_PREFIX,
    RESULT_ROW,
)
from reintento_function.frame_check import FrameCheck, check_frame, decoded
from reintento_function.inference_core import (
    MODEL_REFUSALS,
    ModelSchema,
    RowCheck,
    Seen,
    predict_arrays,
    predict_attributed,
    predict_records,
)
from reintento_function.inference_errors import BatchSliceError
from reintento_function.onnx_engine import CompiledModel

INVALID = contract.INVALID_INPUT


class _NoPandas:
    """An import finder that refuses pandas (``_pandas_on_demand``)."""

    @staticmethod
    def find_spec(name: str, *_: Any) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not needed by a columnar slice")


@functools.cache
def _pandas_on_demand() -> None:
    """pyarrow imports pandas the first time it asks whether an object is a pandas one (reading
    a table, making an array), though this path never hands it one. Asked once while pandas
    cannot be imported, pyarrow's shim (``pyarrow/pandas-shim.pxi``) records "no pandas" and
    stops asking; a call that needs pandas (``Table.to_pandas``) still imports it then, and
    so does the scikit-learn engine. So a slice served by the compiled engine loads no pandas.
    Once per process: pyarrow remembers the answer."""
    if "pandas" in sys.modules:
        return
    sys.meta_path.insert(0, _NoPandas)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(_NoPandas)


def read_table(body: bytes, pandas_free: bool = False) -> pa.Table:
    """A Parquet slice as a table, or ``BatchSliceError`` (the whole slice is unreadable).
    ``pandas_free``: pyarrow is not to import pandas (``_pandas_on_demand``)."""
    import pyarrow.parquet as pq

    if pandas_free:
        _pandas_on_demand()

    try:
        return pq.read_table(io.BytesIO(body))
    except (pa.ArrowException, OSError, ValueError) as err:
        raise BatchSliceError(f"the slice is not a readable Parquet file: {err}"[:300]) from err


def write_table(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _model_input(estimator: Any, schema: ModelSchema, columns: dict[str, Any]) -> Any:
    """What the estimator takes for checked columns: a compiled model's feeds (NumPy), or a
    frame for scikit-learn (pandas imported only then)."""
    if isinstance(estimator, CompiledModel):
        return estimator.feed(columns)  # a table's rows are named (check_frame)
    import pandas as pd

    return pd.DataFrame(columns, columns=schema.feature_names)


def predict_frame(
    estimator: Any,
    schema: ModelSchema,
    table: pa.Table,
    first_row: int,
    probabilities: bool = True,
    seen: Seen | None = None,
) -> pa.Table:
    """One result row per row of ``table``, in order (``RESULT_*`` columns); without
    ``probabilities``, labels only (``model.predict`` alone: one pass of the model). ``seen``
    is shown the valid rows, by column."""
    check = check_frame(schema, table)
    classes = tuple(schema.classes or ()) if probabilities else ()
    if check is None:
        records = _row_by_row(estimator, schema, table, first_row, seen)
        return _from_records(schema, records, first_row, classes)
    n = table.num_rows
    valid = np.flatnonzero(check.ok)
    if seen is not None:
        seen({name: column[valid] for name, column in check.columns.items()}, len(valid))
    errors = check.errors
    labels: Any = None
    proba: Any = None
    if len(valid):
        columns = {name: check.columns[name][valid] for name in schema.feature_names}
        model_input = _model_input(estimator, schema, columns)
        try:
            if probabilities:
                labels, proba, _ = predict_arrays(estimator, model_input)
            else:
                labels = np.asarray(estimator.predict(model_input))
        except MODEL_REFUSALS:
            valid, labels, proba, errors = _refusals_found(estimator, schema, check, first_row)
    predicted = np.zeros(n, dtype=bool)
    predicted[valid] = True
    return _columns(schema, first_row, predicted, valid, labels, proba, errors, classes)


def _refusals_found(
    estimator: Any, schema: ModelSchema, check: FrameCheck, first_row: int
) -> tuple[np.ndarray[Any, Any], Any, Any, np.ndarray[Any, Any]]:
    """The model refused some valid rows: halve until each refused row is found (as
    ``predict_attributed`` does for JSON rows); the others are still predicted."""
    valid = np.flatnonzero(check.ok)
    columns: dict[str, Any] = {name: check.columns[name][valid] for name in schema.feature_names}
    rows = RowCheck(valid_rows=valid.tolist(), columns=columns)
    where, result, refused = predict_attributed(estimator, schema, rows, first_row)
    errors = check.errors.copy()
    for problem in refused:
        at = (problem.row or first_row) - first_row
        text = f"{problem.field}: {problem.problem}"
        errors[at] = text if errors[at] is None else f"{errors[at]}; {text}"
    order = sorted(where)
    labels = np.asarray([result.predictions[where[i]] for i in order])
    proba = (
        np.asarray([result.probabilities[where[i]] for i in order])
        if result.probabilities is not None
        else None
    )
    return np.asarray(order, dtype=np.int64), labels, proba, errors


def _columns(
    schema: ModelSchema,
    first_row: int,
    predicted: np.ndarray[Any, Any],
    valid: np.ndarray[Any, Any],
    labels: Any,
    proba: Any,
    errors: np.ndarray[Any, Any],
    classes: tuple[Any, ...],
) -> pa.Table:
    n = len(predicted)
    out: dict[str, Any] = {RESULT_ROW: pa.array(np.arange(first_row, first_row + n))}
    out[RESULT_PREDICTION] = _prediction_column(schema, n, valid, labels)
    for j, label in enumerate(classes):
        values = np.full(n, np.nan)
        if proba is not None:
            values[valid] = proba[:, j]
        out[f"{RESULT_PROBABILITY_PREFIX}{label}"] = pa.array(values, from_pandas=True)
    failed = ~predicted
    error_types = np.full(n, None, dtype=object)
    error_types[failed] = INVALID
    texts = errors.copy()
    texts[predicted] = None
    out[RESULT_ERROR_TYPE] = pa.array(error_types, from_pandas=True)
    out[RESULT_ERROR] = pa.array(texts, from_pandas=True)
    return _readable_by_pandas(pa.table(out))


# pandas' nullable dtypes for labels that are integers or booleans, by Arrow type
_NULLABLE_LABELS = {"int64": ("int64", "Int64"), "bool": ("bool", "boolean")}


def _readable_by_pandas(table: pa.Table) -> pa.Table:
    """Results left in S3 are read by pandas too: integer and boolean labels (null at refused
    rows) read as its nullable ``Int64``/``boolean`` dtypes, as a frame written by pandas reads,
    in every slice alike (without this note pandas reads them as float, or as int64 in a slice
    with no row refused). The note is pandas' own schema metadata, for that one column."""
    kind = str(table.schema.field(RESULT_PREDICTION).type)
    if kind not in _NULLABLE_LABELS:
        return table
    pandas_type, numpy_type = _NULLABLE_LABELS[kind]
    column = dict(  # pandas' names for a column's record (not the contract's keys)
        name=RESULT_PREDICTION,
        field_name=RESULT_PREDICTION,
        pandas_type=pandas_type,
        numpy_type=numpy_type,
        metadata=None,
    )
    note = dict(index_columns=[], column_indexes=[], columns=[column])
    return table.replace_schema_metadata({b"pandas": json.dumps(note).encode()})


def _prediction_column(
    schema: ModelSchema, n: int, valid: np.ndarray[Any, Any], labels: Any
) -> Any:
    """The labels at the predicted rows, null elsewhere, typed as the model's labels (so every
    result slice of a batch has the same Parquet schema, even one with no row predicted)."""
    kind = np.asarray(labels if labels is not None else list(schema.classes or [0.0])).dtype
    missing = np.ones(n, dtype=bool)
    missing[valid] = False
    if kind.kind in "iub":
        values = np.zeros(n, dtype=np.int64 if kind.kind != "b" else bool)
        if labels is not None:
            values[valid] = labels
        return pa.array(values, mask=missing)
    if kind.kind == "f":
        values = np.full(n, np.nan)
        if labels is not None:
            values[valid] = labels
        return pa.array(values, from_pandas=True)
    column = np.full(n, None, dtype=object)
    if labels is not None:
        column[valid] = labels
    return pa.array(column, from_pandas=True)


def _cells(column: pa.ChunkedArray) -> list[Any]:
    """A column's cells as JSON gives them: None for a null, and for a NaN."""
    values: list[Any] = decoded(column).to_pylist()
    if pa.types.is_floating(column.type):
        return [None if v is None or v != v else v for v in values]
    return values


def _row_by_row(
    estimator: Any, schema: ModelSchema, table: pa.Table, first_row: int, seen: Seen | None
) -> list[dict[str, Any]]:
    """The rows as JSON rows (null for a null cell; unnamed models get lists), checked one by
    one: the slow path, for columns the column check cannot judge."""
    columns = [_cells(column) for column in table.columns]
    rows: list[Any]
    if schema.named:
        names = [str(name) for name in table.column_names]
        rows = [dict(zip(names, cells, strict=True)) for cells in zip(*columns, strict=True)]
        if not columns:
            rows = [{} for _ in range(table.num_rows)]
    else:
        rows = [list(cells) for cells in zip(*columns, strict=True)]
    return predict_records(estimator, schema, rows, first_row, seen)


def _from_records(
    schema: ModelSchema, records: list[dict[str, Any]], first_row: int, classes: tuple[Any, ...]
) -> pa.Table:
    n = len(records)
    predicted = np.asarray([contract.ANSWER_ERROR not in r for r in records], dtype=bool)
    valid = np.flatnonzero(predicted)
    labels = np.asarray([records[i][RESULT_PREDICTION] for i in valid])
    proba = (
        np.asarray([records[i][contract.ANSWER_PROBABILITIES] for i in valid], dtype=float)
        if classes and len(valid)
        else None
    )
    errors = np.full(n, None, dtype=object)
    for i, record in enumerate(records):
        if contract.ANSWER_ERROR in record:
            errors[i] = "; ".join(
                f"{d.get(contract.DETAIL_FIELD)}: {d.get(contract.DETAIL_PROBLEM)}"
                for d in record[contract.ANSWER_ERROR][contract.ERROR_DETAILS]
            )
    return _columns(
        schema, first_row, predicted, valid, labels if len(valid) else None, proba, errors, classes
    )
