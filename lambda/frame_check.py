"""A table of rows checked column by column: the batch's columnar path, no per-row Python.

The same rules and messages as ``inference_core.check_rows`` applies to JSON rows, applied to
whole columns. A null cell (a Parquet null, or NaN, as pandas reads both) is JSON's null; a
table has no "absent" cell, so a missing feature is a missing column. A column whose type the
rules cannot judge at once (text in a numeric feature, cells of mixed types) makes
``check_frame`` answer ``None``, and the caller checks those rows one by one, as JSON rows.
Only the rows that are refused cost Python work (their messages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from inference_core import MAX_EXACT_INT, MAX_STRING_LENGTH, FeatureSpec, ModelSchema

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
        (str(column)[:80], everyone, "unexpected feature")
        for column in frame.columns
        if str(column) not in schema.name_set
    ]
    columns: dict[str, np.ndarray[Any, Any]] = {}
    for spec in schema.features:
        if spec.name not in frame.columns:
            findings.append((spec.name, everyone, "missing"))
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
    null = series.isna().to_numpy()
    kind = _kind(series)
    found: list[Finding] = []
    if null.any() and not spec.nullable:
        found.append((spec.name, null, "null is not allowed; send a value"))
    if kind == "boolean":
        expected = "a number" if spec.kind == "numeric" else "a string"
        found.append((spec.name, ~null, f"expected {expected}, got boolean"))
        return np.full(len(series), math.nan if spec.kind == "numeric" else None), found
    if kind == "mixed":
        return None
    if spec.kind == "numeric":
        if kind == "string":
            found.append((spec.name, ~null, "expected a number, got string"))
            return np.full(len(series), math.nan), found
        values = series.to_numpy(dtype=float, na_value=math.nan)
        found.extend(_number_findings(spec, series, values, null))
        return values, found
    if kind == "number":
        return _numbers_for_text_feature(spec, series, null, found)
    values = series.to_numpy(dtype=object, na_value=None)
    if spec.nullable and null.any():
        values[null] = spec.null_as
    if kind == "string":
        lengths = series.str.len().to_numpy(dtype=float, na_value=0)
        long = lengths > MAX_STRING_LENGTH
        if long.any():
            texts = np.full(len(series), None, dtype=object)
            texts[long] = [
                f"string too long ({int(n)} characters, at most {MAX_STRING_LENGTH})"
                for n in lengths[long]
            ]
            found.append((spec.name, long, texts))
        if spec.categories is not None:
            numeric_categories = not isinstance(spec.categories[0], str)
            if numeric_categories:
                found.append((spec.name, ~null, "expected a number, got string"))
            else:
                unknown = ~null & ~long & ~series.isin(spec.categories).to_numpy()
                found.extend(_unknown(spec, values, unknown, quoted=True))
    return values, found


def _number_findings(
    spec: FeatureSpec, series: pd.Series, values: np.ndarray[Any, Any], null: np.ndarray[Any, Any]
) -> list[Finding]:
    found: list[Finding] = []
    if pd.api.types.is_integer_dtype(series.dtype):
        exact = series.to_numpy(dtype=object, na_value=0)
        big = ~null & (np.abs(values) > MAX_EXACT_INT)
        if big.any():
            texts = np.full(len(series), None, dtype=object)
            texts[big] = [
                f"integer with {len(str(abs(int(v))))} digits is outside what a number can hold "
                f"exactly (at most {MAX_EXACT_INT:,} in absolute value)"
                for v in exact[big]
            ]
            found.append((spec.name, big, texts))
    else:
        infinite = ~null & ~np.isfinite(values)
        if infinite.any():
            found.append(
                (spec.name, infinite, "not a finite number (NaN/Infinity are not allowed)")
            )
    return found


def _numbers_for_text_feature(
    spec: FeatureSpec, series: pd.Series, null: np.ndarray[Any, Any], found: list[Finding]
) -> tuple[np.ndarray[Any, Any], list[Finding]]:
    """A numeric column for a feature that takes text ("any") or categories."""
    values = series.to_numpy(dtype=object, na_value=None)
    if spec.nullable and null.any():
        values[null] = spec.null_as
    as_float = series.to_numpy(dtype=float, na_value=math.nan)
    infinite = ~null & ~np.isfinite(as_float)
    if spec.kind == "any":
        if infinite.any():
            found.append(
                (spec.name, infinite, "not a finite number (NaN/Infinity are not allowed)")
            )
        return values, found
    numeric_categories = bool(spec.categories) and not isinstance(
        (spec.categories or ("",))[0], str
    )
    if spec.kind == "categorical" and numeric_categories:
        unknown = ~null & ~series.isin(spec.categories or ()).to_numpy()
        found.extend(_unknown(spec, values, unknown, quoted=False))
        return values, found
    found.append((spec.name, ~null, "expected a string, got number"))
    return values, found


def _unknown(
    spec: FeatureSpec, values: np.ndarray[Any, Any], unknown: np.ndarray[Any, Any], *, quoted: bool
) -> list[Finding]:
    if not unknown.any():
        return []
    texts = np.full(len(values), None, dtype=object)
    if quoted:
        shown = ", ".join(repr(c) for c in (spec.categories or ())[:20])
        texts[unknown] = [
            f"unknown category {str(v)[:40]!r}; expected one of [{shown}]" for v in values[unknown]
        ]
    else:
        texts[unknown] = [f"unknown category {v!r}" for v in values[unknown]]
    return [(spec.name, unknown, texts)]
