"""Rows as the function takes them: from dicts, lists or a DataFrame. Pure, no AWS."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ops.errors import ConfigurationError
from reintento_function import contract

NON_FINITE = "not a finite number (NaN/Infinity are not allowed)"


def _native(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _cell(value: Any) -> Any:
    """A DataFrame cell: a missing value (NaN/NA) becomes null, which the function names."""
    value = _native(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_rows(data: Any) -> list[Any]:
    """Normalize input to a list of rows (dicts keyed by feature, or lists of numbers)."""
    if isinstance(data, pd.DataFrame):
        # missing cells (NaN/NA) become null, which the function names; values become Python's
        clean = data.astype(object).where(data.notna(), None)
        clean.columns = [str(c) for c in clean.columns]
        records: list[Any] = clean.to_dict(orient="records")
        return records
    if isinstance(data, pd.Series):
        return [{str(k): _cell(v) for k, v in data.items()}]
    if isinstance(data, Mapping):
        return [dict(data)]
    if isinstance(data, np.ndarray):
        return [[_native(v) for v in row] for row in np.atleast_2d(data)]
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        rows = list(data)
        return [dict(r) if isinstance(r, Mapping) else r for r in rows]
    raise ConfigurationError(
        f"rows must be a dict, a list of dicts or lists, or a DataFrame; got {type(data).__name__}"
    )


def non_finite_cells(rows: list[Any]) -> list[dict[str, Any]]:
    """Row/field of every NaN or Infinity: JSON cannot carry them, so Lambda would refuse."""
    found: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        cells = (
            row.items()
            if isinstance(row, Mapping)
            else enumerate(row)
            if isinstance(row, list)
            else ()
        )
        for field, value in cells:
            if isinstance(value, float) and not math.isfinite(value):
                found.append(
                    {
                        contract.DETAIL_ROW: i,
                        contract.DETAIL_FIELD: str(field),
                        contract.DETAIL_PROBLEM: NON_FINITE,
                    }
                )
    return found
