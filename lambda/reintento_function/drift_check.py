"""How far the rows a model answers are from what it was trained on, feature by feature.

The reference is the served model's feature profile (the ``profile`` of its signed manifest,
made by ``ops profile-model``): per feature the training range (numeric) or the categories the
training data had (categorical), and the training share of nulls. For each realtime request and
batch slice the function counts, over its valid rows and per feature:

- *out of range*: numeric values below the training minimum or above its maximum;
- *unseen*: categories the training data never had. Only when the profile lists every training
  category: one that kept the most frequent ones and counted the rest as "other" cannot tell an
  unseen category from a rare one, so it calls none unseen;
- *nulls*: missing values; their share beyond the training share is the excess.

Only counts leave the function (metrics, and a batch slice's histograms), never a row's value.
Pure: numpy and pandas (the function has both); ``model_loader`` reads the profile and
``drift_metrics`` publishes the counts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reintento_function import contract
from reintento_function.contract import (
    HIST_ABOVE,
    HIST_BELOW,
    HIST_BINS,
    HIST_COUNTS,
    HIST_FEATURES,
    HIST_NULLS,
    HIST_OTHER,
    HIST_ROWS,
    MAX_PROFILED_FEATURES,
)


@dataclass(frozen=True)
class FeatureReference:
    """One feature of the training profile, as the drift counts need it."""

    name: str
    numeric: bool
    # the training minimum and maximum (numeric), when they are the data's own bounds
    low: float | None = None
    high: float | None = None
    # every training category (categorical; None: not all of them known, so none is unseen)
    categories: frozenset[Any] | None = None
    null_share: float = 0.0
    edges: tuple[float, ...] = ()  # the training quantiles, each once (numeric): bins' edges
    listed: tuple[Any, ...] = ()  # the training categories the profile lists, in its order
    position: int = 0  # among the model's features (columns of a model without names)


@dataclass(frozen=True)
class InputProfile:
    """The features a model's drift is counted on (at most ``MAX_PROFILED_FEATURES``)."""

    features: tuple[FeatureReference, ...]
    synthetic: bool  # made from what the model reveals, not from training data

    @classmethod
    def from_manifest(cls, manifest: Any) -> InputProfile | None:
        """The profile of a manifest's JSON document, or None if it has none usable."""
        profile = manifest.get(contract.PROFILE) if isinstance(manifest, Mapping) else None
        if not isinstance(profile, Mapping) or not isinstance(
            profile.get(contract.PROFILE_FEATURES), list
        ):
            return None
        from_data = profile.get(contract.PROFILE_SOURCE) == contract.PROFILE_FROM_DATA
        features = [
            _reference(f, i, from_data)
            for i, f in enumerate(profile[contract.PROFILE_FEATURES][:MAX_PROFILED_FEATURES])
        ]
        usable = tuple(f for f in features if f is not None)
        if not usable:
            return None
        return cls(usable, synthetic=not from_data)


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _reference(feature: Any, position: int, from_data: bool) -> FeatureReference | None:
    """A profile feature as counts need it. Out-of-profile values are counted only against
    bounds the profile marks ``exact`` (a profile from data: all; from the model: a scaler's
    data range or an encoder's categories, not a guess; ``ops.modelfiles.profile``)."""
    if not isinstance(feature, Mapping) or not isinstance(feature.get(contract.PROFILE_NAME), str):
        return None
    null_share = finite_number(feature.get(contract.PROFILE_NULL_SHARE)) or 0.0
    exact = bool(feature.get(contract.PROFILE_EXACT, from_data))
    name = feature[contract.PROFILE_NAME]
    if feature.get(contract.PROFILE_KIND) == contract.PROFILE_CATEGORICAL:
        listed = feature.get(contract.PROFILE_CATEGORIES)
        order = (
            tuple(_hashable(c[0]) for c in listed if isinstance(c, list) and c)
            if isinstance(listed, list)
            else ()
        )
        complete = (
            exact and bool(order) and not finite_number(feature.get(contract.PROFILE_OTHER_SHARE))
        )
        categories = frozenset(order) if complete else None
        return FeatureReference(
            name, False, None, None, categories, null_share, listed=order, position=position
        )
    quantiles = feature.get(contract.PROFILE_QUANTILES)
    numbers = [finite_number(q) for q in quantiles] if isinstance(quantiles, list) else []
    edges = profile_edges([q for q in numbers if q is not None])
    low, high = (edges[0], edges[-1]) if edges and exact else (None, None)
    return FeatureReference(name, True, low, high, None, null_share, edges=edges, position=position)


def profile_edges(quantiles: Sequence[float]) -> tuple[float, ...]:
    """The edges of a numeric feature's bins: its training quantiles, sorted, each once."""
    return tuple(sorted(set(quantiles)))


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


@dataclass(frozen=True)
class FeatureCount:
    """One feature's counts over the valid rows of one request or slice."""

    name: str
    rows: int
    out_of_range: int
    unseen: int
    nulls: int
    training_null_share: float

    @property
    def share(self) -> float:
        """The share of values out of the training range or unseen in training."""
        return (self.out_of_range + self.unseen) / self.rows if self.rows else 0.0

    @property
    def null_excess(self) -> float:
        """The share of nulls beyond the training share."""
        if not self.rows:
            return 0.0
        return max(0.0, self.nulls / self.rows - self.training_null_share)

    @property
    def drift(self) -> float:
        """The larger of the two: how far this feature is from its profile in these rows."""
        return max(self.share, self.null_excess)

    @property
    def out_of_profile(self) -> int:
        """Values out of the training range or unseen in training."""
        return self.out_of_range + self.unseen

    @property
    def notable(self) -> bool:
        """Worth a metric: values out of profile, or more nulls than training had (nulls at
        the training share, or below it, are ordinary and not published)."""
        return bool(self.out_of_profile or self.null_excess > 0)


def _floats(values: Any) -> np.ndarray[Any, Any]:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):  # nulls as None, or a value that is not a number
        try:
            import pandas as pd  # only for a column that is not all numbers (and null)

            series = pd.Series(np.asarray(list(values), dtype=object))
            numbers = pd.to_numeric(series, errors="coerce")
            return np.asarray(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        except (TypeError, ValueError):
            return np.asarray([_number_or_nan(v) for v in values], dtype=float)


def _number_or_nan(value: Any) -> float:
    if value is None or isinstance(value, str | bytes):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or _is_na(value)


def _is_na(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN and pandas' NA-likes are not equal to themselves
    except (TypeError, ValueError):
        return True  # pandas.NA refuses to be a bool: it is missing


def count_feature(reference: FeatureReference, values: Any) -> FeatureCount:
    """Count one feature's column (a list, a NumPy array or a pandas Series)."""
    if reference.numeric:
        numbers = _floats(values)
        present = numbers[~np.isnan(numbers)]
        nulls = int(len(numbers) - len(present))
        low = reference.low if reference.low is not None else -math.inf
        high = reference.high if reference.high is not None else math.inf
        out = int(np.count_nonzero((present < low) | (present > high)))
        return FeatureCount(reference.name, len(numbers), out, 0, nulls, reference.null_share)
    counts, other, nulls = _tally(reference, values)
    unseen = other if reference.categories is not None else 0  # every training category listed
    rows = sum(counts) + other + nulls
    return FeatureCount(reference.name, rows, 0, unseen, nulls, reference.null_share)


def _tally(reference: FeatureReference, values: Any) -> tuple[list[int], int, int]:
    """Of a categorical column: the count of each category the profile lists (in its order),
    of every other value, and of missing values. Counted by distinct value (``Counter`` runs in
    C), so a column of few categories costs one pass; unhashable values count as other."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    try:
        tally = Counter(items)
    except TypeError:  # an unhashable value (a list): counted one by one
        tally = Counter(v if _is_hashable(v) else _UNHASHABLE for v in items)
    position = {value: i for i, value in enumerate(reference.listed)}
    counts = [0] * len(reference.listed)
    other = missing = 0
    for value, n in tally.items():
        if value is not _UNHASHABLE and _missing(value):
            missing += n
            continue
        at = position.get(_hashable(value)) if value is not _UNHASHABLE else None
        if at is None:
            other += n
        else:
            counts[at] += n
    return counts, other, missing


_UNHASHABLE = object()


def _is_hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def count_columns(
    profile: InputProfile, columns: Mapping[str, Any] | Sequence[Any], rows: int
) -> tuple[FeatureCount, ...]:
    """Per feature of the profile, the counts over ``rows`` rows given as columns: by feature
    name (a mapping) or by position (the columns of a model fitted without names)."""
    found: list[FeatureCount] = []
    for reference in profile.features:
        values = _column(columns, reference)
        if values is None or len(values) != rows:
            continue
        found.append(count_feature(reference, values))
    return tuple(found)


def counts_of(profile: InputProfile, found: Mapping[str, Any]) -> tuple[FeatureCount, ...]:
    """The counts ``histograms`` already holds (a batch slice reads its rows once for both):
    out of range is below plus above a range that is the training data's own, unseen is
    "other" when every training category is listed."""
    rows, by_name = int(found[HIST_ROWS]), found[HIST_FEATURES]
    counted: list[FeatureCount] = []
    for reference in profile.features:
        histogram = by_name.get(reference.name)
        if histogram is None:
            continue
        out = histogram.get(HIST_BELOW, 0) + histogram.get(HIST_ABOVE, 0)
        counted.append(
            FeatureCount(
                reference.name,
                rows,
                out if reference.low is not None else 0,
                histogram.get(HIST_OTHER, 0) if reference.categories is not None else 0,
                histogram[HIST_NULLS],
                reference.null_share,
            )
        )
    return tuple(counted)


def _column(columns: Mapping[str, Any] | Sequence[Any], reference: FeatureReference) -> Any:
    if isinstance(columns, Mapping):
        return columns.get(reference.name)
    return columns[reference.position] if reference.position < len(columns) else None


def worst_rows(counts: Sequence[FeatureCount]) -> int:
    """The worst feature's out-of-profile values (0 when nothing was counted): the drift
    alarm's count, against the rows compared."""
    return max((c.out_of_profile for c in counts), default=0)


def worst_share(counts: Sequence[FeatureCount]) -> float:
    """The largest drift of any feature (0 when nothing was counted)."""
    return max((c.drift for c in counts), default=0.0)


# --------------------------------------------------------------------------- batch histograms
#
# A batch slice also writes, beside its results, each feature's histogram over its valid rows,
# against the profile (ops adds the slices' up and compares the whole batch with the training
# distribution: population stability index and shares). Counts only, never a value:
# - numeric: ``below`` and ``above`` the training range, and ``bins`` over it: with edges
#   e0 < e1 < ... < e(m-1) (``profile_edges``), bin k holds e(k) <= v < e(k+1), the last one
#   closed (v = e(m-1) too); one bin when every training value was the same;
# - categorical: ``counts`` of each category the profile lists, in its order, and ``other``
#   (every other value: unseen in training, or beyond the categories the profile kept);
# - both: ``nulls``.


def bin_index(edges: Sequence[float], values: Any) -> np.ndarray[Any, Any]:
    """The bin of each in-range value (see above; 0 for every value with fewer than 2 edges)."""
    if len(edges) < 2:
        return np.zeros(len(values), dtype=int)
    index = np.searchsorted(np.asarray(edges), np.asarray(values, dtype=float), side="right") - 1
    return np.clip(index, 0, len(edges) - 2)


def numeric_bins(edges: Sequence[float], values: np.ndarray[Any, Any]) -> list[int]:
    """Counts of in-range ``values`` per bin (see above)."""
    bins = max(len(edges) - 1, 1)
    return [int(n) for n in np.bincount(bin_index(edges, values), minlength=bins)]


def _histogram(reference: FeatureReference, values: Any) -> dict[str, Any]:
    if reference.numeric:
        numbers = _floats(values)
        present = numbers[~np.isnan(numbers)]
        if not reference.edges:
            return {
                HIST_NULLS: int(len(numbers) - len(present)),
                HIST_BINS: [],
                HIST_BELOW: 0,
                HIST_ABOVE: 0,
            }
        low, high = reference.edges[0], reference.edges[-1]
        inside = present[(present >= low) & (present <= high)]
        return {
            HIST_NULLS: int(len(numbers) - len(present)),
            HIST_BELOW: int(np.count_nonzero(present < low)),
            HIST_ABOVE: int(np.count_nonzero(present > high)),
            HIST_BINS: numeric_bins(reference.edges, inside),
        }
    counts, other, nulls = _tally(reference, values)
    return {HIST_NULLS: nulls, HIST_COUNTS: counts, HIST_OTHER: other}


def histograms(
    profile: InputProfile, columns: Mapping[str, Any] | Sequence[Any], rows: int
) -> dict[str, Any]:
    """Per feature of the profile, the histogram of ``rows`` rows given as columns (a JSON
    document, ``contract.HIST_*``)."""
    found: dict[str, Any] = {}
    for reference in profile.features:
        values = _column(columns, reference)
        if values is None or len(values) != rows:
            continue
        found[reference.name] = _histogram(reference, values)
    return {HIST_ROWS: rows, HIST_FEATURES: found}
