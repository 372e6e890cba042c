"""A table of rows checked column by column: the batch's columnar path, no per-row Python.

The same rules as ``inference_core.check_rows`` applies to JSON rows, applied to whole Arrow
columns to find the cells that may be refused; whether each of those is refused, and why, is
asked of the row-by-row rule itself, so both paths refuse the same cells with the same words. A
null cell (an Arrow null, or a NaN in a floating column) is JSON's null; a table has no "absent"
cell, so a missing feature is a missing column. A column whose type the rules cannot judge at
once (a date, bytes, a list) makes ``check_frame`` answer ``None``, and the caller checks those
rows one by one, as JSON rows. Only the suspect cells cost Python work.

pyarrow and NumPy only: a slice served by the compiled engine never imports pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reintento_function import contract
from reintento_function.inference_core import (
    MAX_EXACT_INT,
    MAX_STRING_LENGTH,
    FeatureSpec,
    ModelSchema,
    _check_value,
)

# (field, rows it applies to, the problem: one text for all, or one per row)
Finding = tuple[str, Any, "str | np.ndarray[Any, Any]"]


@dataclass(frozen=True)
class FrameCheck:
    """Which rows are valid, the error text of the others, and the model's input columns (the
    values at invalid rows are placeholders): float64 for a numeric feature, else objects."""

    ok: np.ndarray[Any, Any]
    errors: np.ndarray[Any, Any]  # object: None, or "field: problem; field: problem"
    columns: dict[str, np.ndarray[Any, Any]]


def check_frame(schema: ModelSchema, table: pa.Table) -> FrameCheck | None:
    """Check every row of ``table`` against ``schema``; None when a column needs a row-by-row
    check (or the model takes unnamed rows, which a table does not carry)."""
    if not schema.named:
        return None
    n = table.num_rows
    everyone = np.ones(n, dtype=bool)
    names = [str(name) for name in table.column_names]
    first = {name: at for at, name in reversed(list(enumerate(names)))}
    findings: list[Finding] = [
        (name[:80], everyone, contract.PROBLEM_UNEXPECTED)
        for at, name in enumerate(names)
        if name not in schema.name_set or first[name] != at  # a second column of one name
    ]
    columns: dict[str, np.ndarray[Any, Any]] = {}
    for spec in schema.features:
        if spec.name not in first:
            findings.append((spec.name, everyone, contract.PROBLEM_MISSING))
            columns[spec.name] = np.full(n, math.nan if spec.kind == "numeric" else None)
            continue
        checked = _check_column(spec, decoded(table.column(first[spec.name])))
        if checked is None:
            return None
        columns[spec.name], found = checked
        findings.extend(found)
    return FrameCheck(*_join(n, findings), columns)


def decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column (a table's category column) as its plain values."""
    kind = column.type
    return column.cast(kind.value_type) if pa.types.is_dictionary(kind) else column


def _join(n: int, findings: list[Finding]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The valid rows and each invalid row's problems as one text, in the order found."""
    errors = np.full(n, None, dtype=object)
    for field, rows, problem in findings:
        at = np.flatnonzero(rows)
        if not len(at):
            continue
        texts = problem[at] if isinstance(problem, np.ndarray) else np.full(len(at), problem)
        parts = (f"{field}: " + texts.astype(object)).astype(object)
        before = errors[at]
        earlier = before != None  # noqa: E711
        parts[earlier] = before[earlier] + "; " + parts[earlier]
        errors[at] = parts
    return errors == None, errors  # noqa: E711


def _kind(column: pa.ChunkedArray) -> str:
    """number, boolean, string, empty (all null) or mixed (a type the rules cannot judge)."""
    kind = column.type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return "number"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_null(kind):
        return "empty"
    return "mixed"


def _numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _floats(column: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """The column as float64, NaN at nulls (an integer beyond 2**53 rounded: judged apart)."""
    return _numpy(column.cast(pa.float64(), safe=False))


def _check_column(
    spec: FeatureSpec, column: pa.ChunkedArray
) -> tuple[np.ndarray[Any, Any], list[Finding]] | None:
    """The model's input column and the refused cells. Whole-column tests find the cells that
    may be refused; each of those is judged by the row-by-row rule itself
    (``inference_core._check_value``), so both paths refuse the same cells with the same words."""
    kind = _kind(column)
    if kind == "mixed":
        return None
    n = len(column)
    null = _numpy(pc.is_null(column, nan_is_null=True))
    suspect = null.copy() if not spec.nullable else np.zeros(n, dtype=bool)
    if kind == "boolean" or (spec.kind == "numeric" and kind == "string"):
        suspect |= ~null
        values = np.full(n, math.nan if spec.kind == "numeric" else None)
    elif spec.kind == "numeric":
        values = _floats(column) if kind == "number" else np.full(n, math.nan)
        # >=: as floats, 2**53 + 1 equals 2**53; the row-by-row rule judges each exactly
        suspect |= ~null & (~np.isfinite(values) | (np.abs(values) >= MAX_EXACT_INT))
    else:
        values = _objects(column, kind)
        if spec.nullable and null.any():
            values[null] = spec.null_as
        if kind == "number":
            as_float = _floats(column)
            suspect |= ~null & (~np.isfinite(as_float) | (np.abs(as_float) >= MAX_EXACT_INT))
            if spec.kind != "any":  # a category: a known number, or else refused
                numbers = [float(c) for c in spec.categories or () if type(c) in (int, float)]
                suspect |= ~null & ~np.isin(as_float, np.asarray(numbers, dtype=float))
        elif kind == "string":
            lengths = _numpy(pc.utf8_length(column).fill_null(0))
            suspect |= lengths > MAX_STRING_LENGTH
            if spec.categories is not None:
                strings = pa.array([c for c in spec.categories if isinstance(c, str)], pa.string())
                listed = _numpy(pc.is_in(column.cast(pa.string()), value_set=strings))
                suspect |= ~null & ~listed
    return values, _refused(spec, column, suspect, null)


def _objects(column: pa.ChunkedArray, kind: str) -> np.ndarray[Any, Any]:
    """The column's cells as Python values (None at nulls), for a categorical feature."""
    if kind == "string":
        return _numpy(column)  # str objects, None at nulls
    values = np.empty(len(column), dtype=object)
    values[:] = column.to_pylist()  # numbers as Python int and float, as JSON gives them
    return values


def _refused(
    spec: FeatureSpec, column: pa.ChunkedArray, suspect: np.ndarray[Any, Any], null: Any
) -> list[Finding]:
    """The suspect cells the row-by-row rule refuses, with its message: only these cells cost
    Python work."""
    at = np.flatnonzero(suspect)
    if not len(at):
        return []
    texts = np.full(len(column), None, dtype=object)
    cells = column.take(pa.array(at)).to_pylist()
    for i, cell in zip(at, cells, strict=True):
        texts[i] = _check_value(spec, None if null[i] else cell)[1]
    refused = texts != None  # noqa: E711
    return [(spec.name, refused, texts)] if refused.any() else []
