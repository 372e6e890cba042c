"""What a fitted model reveals about the values it was trained on, feature by feature.

Read from scikit-learn's public fitted attributes, never from class names: an encoder's
``categories_``, a scaler's ``mean_``/``scale_`` (or ``center_``, ``data_min_``/``data_max_``,
``max_abs_``), an imputer's ``statistics_``, a discretizer's ``bin_edges_``, and, for a tree
model that sees the raw features, its split thresholds. ``ops`` turns these hints into a feature
profile when the user gives no data, and every row made from it is marked synthetic. Pure: no
boto3, no environment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from reintento_function import contract
from reintento_function.drift_check import finite_number as _number
from reintento_function.inference_core import (
    ModelSchema,
    column_selection,
    flatten_steps,
    transformer_position,
)

SPREAD_SIGMAS = 3.0  # a scaler's mean and scale read as mean +/- 3 standard deviations


def _at(values: Any, position: int) -> Any:
    array = np.asarray(values) if values is not None else None
    if array is None or array.ndim == 0 or position >= len(array):
        return None
    return array[position]


def _hint(step: Any, read_from: str, found: dict[str, Any]) -> dict[str, Any]:
    """A hint: what was found (contract.HINT_* keys) and the step it was read from."""
    return {**found, contract.HINT_SOURCE: f"{type(step).__name__} {read_from}"}


def _range(low: float | None, high: float | None) -> dict[str, Any] | None:
    if low is None or high is None:
        return None
    return {contract.HINT_LOW: low, contract.HINT_HIGH: high}


def _centre(center: float | None, spread: float | None) -> dict[str, Any] | None:
    return None if center is None else {contract.HINT_CENTER: center, contract.HINT_SPREAD: spread}


def _step_range(step: Any, position: int) -> tuple[str, dict[str, Any]] | None:
    """A numeric range a min-max scaler or a discretizer learned for the column, and from
    what."""
    learned = _range(
        _number(_at(getattr(step, "data_min_", None), position)),
        _number(_at(getattr(step, "data_max_", None), position)),
    )
    if learned is not None:
        return "data range", learned
    edges = getattr(step, "bin_edges_", None)
    if edges is not None and position < len(edges) and len(edges[position]) >= 2:
        found = _range(_number(edges[position][0]), _number(edges[position][-1]))
        if found is not None:
            return "bin edges", found
    return None


def _step_hint(step: Any, position: int) -> dict[str, Any] | None:
    """What one fitted step says about the column at ``position`` of its input."""
    categories = getattr(step, "categories_", None)
    if categories is not None and position < len(categories):
        values = [v for v in np.asarray(categories[position]).tolist() if _present(v)]
        return _hint(step, "categories", {contract.HINT_CATEGORIES: values})
    learned = _step_range(step, position)
    if learned is not None:
        return _hint(step, *learned)
    scale = _number(_at(getattr(step, "scale_", None), position))
    for attribute, what in (("mean_", "mean and scale"), ("center_", "centre")):
        centre = _centre(_number(_at(getattr(step, attribute, None), position)), scale)
        if centre is not None:
            return _hint(step, what, centre)
    max_abs = _number(_at(getattr(step, "max_abs_", None), position))
    if max_abs is not None:
        return _hint(step, "range", {contract.HINT_LOW: -max_abs, contract.HINT_HIGH: max_abs})
    statistic = _at(getattr(step, "statistics_", None), position)
    if statistic is not None and _present(statistic):
        value = statistic.item() if hasattr(statistic, "item") else statistic
        if isinstance(value, str):
            return _hint(step, "statistic", {contract.HINT_CATEGORIES: [value]})
        centre = _centre(_number(value), None)
        if centre is not None:
            return _hint(step, "statistic", centre)
    return None


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


def _merge(hints: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The most telling hint of a column's steps: the longest list of categories (an encoder's,
    not an imputer's one most frequent value), then a range, then a centre with a spread, then
    a centre alone."""
    with_categories = [h for h in hints if h.get(contract.HINT_CATEGORIES)]
    if with_categories:
        return max(with_categories, key=lambda h: len(h[contract.HINT_CATEGORIES]))
    for wanted in (
        (contract.HINT_LOW,),
        (contract.HINT_CENTER, contract.HINT_SPREAD),
        (contract.HINT_CENTER,),
    ):
        for hint in hints:
            if all(hint.get(key) is not None for key in wanted):
                return hint
    return {}


def _tree_ranges(final: Any, n_features: int) -> list[dict[str, Any] | None]:
    """Per input column, the span of a tree model's split thresholds (trees, forests,
    gradient boosting, histogram gradient boosting)."""
    thresholds: list[list[float]] = [[] for _ in range(n_features)]
    trees: list[Any] = []
    estimators = getattr(final, "estimators_", None)
    if getattr(final, "tree_", None) is not None:
        trees = [final.tree_]
    elif estimators is not None:
        trees = [
            t.tree_ for t in np.ravel(np.asarray(estimators, dtype=object)) if hasattr(t, "tree_")
        ]
    for tree in trees:
        for feature, threshold in zip(tree.feature, tree.threshold, strict=True):
            if 0 <= feature < n_features:
                thresholds[int(feature)].append(float(threshold))
    mapper = getattr(final, "_bin_mapper", None)
    for i, edges in enumerate(getattr(mapper, "bin_thresholds_", None) or []):
        if i < n_features and len(edges):
            thresholds[i].extend(float(e) for e in edges)
    out: list[dict[str, Any] | None] = []
    for values in thresholds:
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            out.append(None)
            continue
        low, high = min(finite), max(finite)
        margin = (high - low) * 0.1 or max(abs(low), 1.0) * 0.1
        out.append(
            {
                contract.HINT_LOW: low - margin,
                contract.HINT_HIGH: high + margin,
                contract.HINT_SOURCE: f"{type(final).__name__} splits",
            }
        )
    return out


def keeps_columns(step: Any) -> bool:
    """Whether a fitted step outputs its input columns as they were named (a scaler, an
    imputer): what a later step learned is then still about the same columns. A step that
    makes new ones (PCA, polynomial features, an encoder) ends what can be read."""
    names_out = getattr(step, "get_feature_names_out", None)
    if names_out is None:
        return False
    try:
        out = [str(n) for n in names_out()]
    except Exception:
        return False
    names_in = getattr(step, "feature_names_in_", None)
    if names_in is not None:
        return out == [str(n) for n in names_in]
    return out == [f"x{i}" for i in range(int(getattr(step, "n_features_in_", -1)))]


def _column_hints(steps: Sequence[Any], position: int) -> list[dict[str, Any]]:
    """What the steps a column goes through say of it, up to the first that makes new columns."""
    hints = []
    for step in steps:
        if step is None or isinstance(step, str):
            continue
        hint = _step_hint(step, position)
        if hint:
            hints.append(hint)
        if not keeps_columns(step):
            break
    return hints


def feature_hints(estimator: Any, schema: ModelSchema) -> list[dict[str, Any]]:
    """Per feature of ``schema``: ``name``, and what the model reveals of its training values
    (``categories``; ``low``/``high``; or ``center``/``spread``) with its ``source``; ``{}``
    beyond the name when the model reveals nothing."""
    names = schema.feature_names
    steps = flatten_steps(estimator)
    found: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    at = transformer_position(steps)
    if at is None:
        for i, name in enumerate(names):
            found[name].extend(_column_hints(steps[:-1], i))
        if len(steps) == 1:  # the final estimator sees the raw columns
            for name, hint in zip(names, _tree_ranges(steps[-1], len(names)), strict=True):
                if hint:
                    found[name].append(hint)
    else:
        for _, transformer, columns in steps[at].transformers_:
            try:
                selected = column_selection(columns, names)
            except (TypeError, IndexError, ValueError):
                continue
            branch = [] if isinstance(transformer, str) else flatten_steps(transformer)
            for position, column in enumerate(selected):
                if column in found:
                    found[column].extend(_column_hints(branch, position))
    return [{contract.FEATURE_NAME: name, **_merge(found[name])} for name in names]
