"""A table of rows checked column by column: the batch's columnar path, no per-row Python.

The same rules as ``inference_core.check_rows`` applies to JSON rows, applied to whole columns
to find the cells that may be refused; whether each of those is refused, and why, is asked of
the row-by-row rule itself, so both paths refuse the same cells with the same words. A null
cell (a Parquet null, or NaN, as pandas reads both) is JSON's null; a table has no "absent"
cell, so a missing feature is a missing column. A column whose type the rules cannot judge at
once (cells of mixed types) makes ``check_frame`` answer ``None``, and the caller checks those
rows one by one, as JSON rows. Only the suspect cells cost Python work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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
    values at invalid rows are placeholders)."""

    ok: np.ndarray[Any, Any]
    errors: np.ndarray[Any, Any]  # object: None, or "field: problem; field: problem"
    columns: dict[str, np.ndarray[Any, Any]]


def check_frame(schema: ModelSchema, frame: pd.DataFrame) -> FrameCheck | None:
    """Check every row of ``frame`` against ``schema``; None when a column needs a row-by-row
    check (or the model takes unnamed rows, which a table does not carry)."""
    if not schema.named:
        return None
    n = len(frame)
    everyone = np.ones(n, dtype=bool)
    findings: list[Finding] = [
        (str(column)[:80], everyone, contract.PROBLEM_UNEXPECTED)
        for column in frame.columns
        if str(column) not in schema.name_set
    ]
    columns: dict[str, np.ndarray[Any, Any]] = {}
    for spec in schema.features:
        if spec.name not in frame.columns:
            findings.append((spec.name, everyone, contract.PROBLEM_MISSING))
            columns[spec.name] = np.full(n, math.nan if spec.kind == "numeric" else None)
            continue
        checked = _check_column(spec, frame[spec.name])
        if checked is None:
            return None
        columns[spec.name], found = checked
        findings.extend(found)
    return FrameCheck(*_join(n, findings), columns)


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


def _kind(series: pd.Series) -> str:
    """number, boolean, string, empty (all null) or mixed, judged at C speed."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {"string": "string", "empty": "empty", "boolean": "boolean"}.get(inferred, "mixed")


def _check_column(
    spec: FeatureSpec, series: pd.Series
) -> tuple[np.ndarray[Any, Any], list[Finding]] | None:
    """The model's input column and the refused cells. Whole-column tests find the cells that
    may be refused; each of those is judged by the row-by-row rule itself
    (``inference_core._check_value``), so both paths refuse the same cells with the same words."""
    null = series.isna().to_numpy()
    kind = _kind(series)
    if kind == "mixed":
        return None
    n = len(series)
    suspect = null.copy() if not spec.nullable else np.zeros(n, dtype=bool)
    if kind == "boolean" or (spec.kind == "numeric" and kind == "string"):
        suspect |= ~null
        values = np.full(n, math.nan if spec.kind == "numeric" else None)
    elif spec.kind == "numeric":
        values = series.to_numpy(dtype=float, na_value=math.nan)
        # >=: as floats, 2**53 + 1 equals 2**53; the row-by-row rule judges each exactly
        suspect |= ~null & (~np.isfinite(values) | (np.abs(values) >= MAX_EXACT_INT))
    else:
        values = series.to_numpy(dtype=object, na_value=None)
        if spec.nullable and null.any():
            values[null] = spec.null_as
        if kind == "number":
            as_float = series.to_numpy(dtype=float, na_value=math.nan)
            suspect |= ~null & (~np.isfinite(as_float) | (np.abs(as_float) >= MAX_EXACT_INT))
            if spec.kind != "any":  # a category: a known number, or else refused
                suspect |= ~null & ~series.isin(spec.categories or ()).to_numpy()
        elif kind == "string":
            suspect |= series.str.len().to_numpy(dtype=float, na_value=0) > MAX_STRING_LENGTH
            if spec.categories is not None:
                suspect |= ~null & ~series.isin(spec.categories).to_numpy()
    return values, _refused(spec, series, suspect, null)


def _refused(
    spec: FeatureSpec, series: pd.Series, suspect: np.ndarray[Any, Any], null: np.ndarray[Any, Any]
) -> list[Finding]:
    """The suspect cells the row-by-row rule refuses, with its message: only these cells cost
    Python work."""
    at = np.flatnonzero(suspect)
    if not len(at):
        return []
    texts = np.full(len(series), None, dtype=object)
    cells = series.iloc[at].to_numpy(dtype=object)
    for i, cell in zip(at, cells, strict=True):
        texts[i] = _check_value(spec, None if null[i] else cell)[1]
    refused = texts != None  # noqa: E711
    return [(spec.name, refused, texts)] if refused.any() else []
