"""The feature profile: what a model's input looked like in training, kept in its manifest.

Made once, from data the user gives (``ops.profile_model(path, rows=frame)``, or
``python -m ops profile-model PATH --rows FILE``): per feature its kind, range and quantiles
(numeric) or categories and their shares (categorical), its share of nulls, and a bounded sample
of real rows (``sample=0`` keeps none, for private data). Without data it is made from what the
fitted model itself reveals (its encoders' categories, scalers' means and scales, imputers'
statistics, trees' split thresholds: ``reintento_function.model_hints``); every row made from
such a profile is *synthetic* and says so wherever it is shown. A profile belongs to one model
file (its sha256): made from data, it is kept only while the model file is the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from ops.errors import ConfigurationError
from reintento_function import contract

QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
SAMPLE_ROWS = 200  # real rows kept in the manifest (0: none)
MAX_SAMPLE_ROWS = 10_000
MAX_CATEGORIES = 50  # most frequent categories kept per feature; the rest counted as other
# a normal distribution's quantiles at QUANTILE_LEVELS (0 and 1 at three standard deviations)
_Z = (-3.0, -2.326, -1.645, -1.282, -0.674, 0.0, 0.674, 1.282, 1.645, 2.326, 3.0)
Source = Literal["data", "model"]


@dataclass(frozen=True)
class FeatureProfile:
    """One feature's training distribution (numeric: quantiles; categorical: shares)."""

    name: str
    kind: Literal["numeric", "categorical"]
    null_share: float = 0.0
    quantiles: tuple[float, ...] | None = None  # at QUANTILE_LEVELS
    integer: bool = False  # every numeric value seen was a whole number
    categories: tuple[tuple[Any, float], ...] | None = None  # (value, share), most frequent first
    other_share: float = 0.0  # share of the categories beyond MAX_CATEGORIES
    hint: str = ""  # a model-made profile: what it was read from
    # a numeric feature with at most MAX_CATEGORIES distinct values (counts, codes): each
    # value's share of the present values (its quantiles alone cannot tell how much of the
    # data sits on a tied value)
    value_shares: tuple[tuple[float, float], ...] | None = None
    # the range (numeric) or categories are the training data's own bounds: a value outside
    # them was never seen in training (a profile from data; from the model, only a scaler's
    # data range, a discretizer's edges, an absolute-value bound or an encoder's categories;
    # not a mean and spread, a statistic or a guess). Drift counts out-of-profile values only
    # against exact bounds.
    exact: bool = True

    @property
    def low(self) -> float | None:
        return self.quantiles[0] if self.quantiles else None

    @property
    def high(self) -> float | None:
        return self.quantiles[-1] if self.quantiles else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            contract.PROFILE_NAME: self.name,
            contract.PROFILE_KIND: self.kind,
            contract.PROFILE_NULL_SHARE: self.null_share,
        }
        if self.quantiles is not None:
            out[contract.PROFILE_QUANTILES] = list(self.quantiles)
            out["integer"] = self.integer
        if self.categories is not None:
            out[contract.PROFILE_CATEGORIES] = [[value, share] for value, share in self.categories]
            out[contract.PROFILE_OTHER_SHARE] = self.other_share
        if self.hint:
            out["hint"] = self.hint
        if self.value_shares is not None:
            out["value_shares"] = [[value, share] for value, share in self.value_shares]
        out[contract.PROFILE_EXACT] = self.exact
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        quantiles = data.get(contract.PROFILE_QUANTILES)
        categories = data.get(contract.PROFILE_CATEGORIES)
        return cls(
            name=str(data[contract.PROFILE_NAME]),
            kind="categorical"
            if data.get(contract.PROFILE_KIND) == contract.PROFILE_CATEGORICAL
            else "numeric",
            null_share=float(data.get(contract.PROFILE_NULL_SHARE, 0.0)),
            quantiles=tuple(float(q) for q in quantiles) if quantiles is not None else None,
            integer=bool(data.get("integer", False)),
            categories=tuple((c[0], float(c[1])) for c in categories)
            if categories is not None
            else None,
            other_share=float(data.get(contract.PROFILE_OTHER_SHARE, 0.0)),
            hint=str(data.get("hint", "")),
            value_shares=tuple((float(v[0]), float(v[1])) for v in data["value_shares"])
            if data.get("value_shares") is not None
            else None,
            exact=bool(data.get(contract.PROFILE_EXACT, True)),
        )

    def describe(self) -> str:
        """One line for a card: range or categories, and nulls."""
        if self.categories is not None:
            shown = ", ".join(f"{v} {s:.0%}" for v, s in self.categories[:5])
            more = f", … ({len(self.categories)} in all)" if len(self.categories) > 5 else ""
            text = f"categories {shown}{more}"
        elif self.quantiles is not None:
            median = self.quantiles[QUANTILE_LEVELS.index(0.5)]
            low, high = _short(self.quantiles[0]), _short(self.quantiles[-1])
            text = f"{low} to {high}, median {_short(median)}"
        else:
            text = "no values"
        if self.null_share:
            text += f"; {self.null_share:.1%} null"
        return text + (f" ({self.hint})" if self.hint else "")


def _short(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True)
class Profile:
    """A model's input profile: per feature, and a bounded sample of real rows."""

    source: Source
    model_sha256: str
    rows: int  # rows profiled (0 for a profile made from the model)
    named: bool
    features: tuple[FeatureProfile, ...]
    sample: tuple[Any, ...] | None = field(default=None, repr=False)

    @property
    def synthetic(self) -> bool:
        """Rows made from this profile are invented, not the user's data."""
        return self.source == "model"

    def feature(self, name: str) -> FeatureProfile | None:
        return next((f for f in self.features if f.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            contract.PROFILE_SOURCE: self.source,
            "model_sha256": self.model_sha256,
            "rows": self.rows,
            "named": self.named,
            "quantile_levels": list(QUANTILE_LEVELS),
            contract.PROFILE_FEATURES: [f.as_dict() for f in self.features],
            "sample": list(self.sample) if self.sample is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        sample = data.get("sample")
        return cls(
            source="data"
            if data.get(contract.PROFILE_SOURCE) == contract.PROFILE_FROM_DATA
            else "model",
            model_sha256=str(data.get("model_sha256", "")),
            rows=int(data.get("rows", 0)),
            named=bool(data.get("named", True)),
            features=tuple(
                FeatureProfile.from_dict(f) for f in data.get(contract.PROFILE_FEATURES, [])
            ),
            sample=tuple(sample) if sample is not None else None,
        )

    def for_model(self, sha256: str) -> Profile:
        return replace(self, model_sha256=sha256)


# --------------------------------------------------------------------------- from data


def _json_value(value: Any, numeric: bool = False) -> Any:
    """A cell as the function takes it: missing and non-finite values become null; a boolean of
    a numeric feature becomes 0 or 1 (as ``model.predict`` reads it)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if numeric and isinstance(value, bool):
        return int(value)
    return value


def _numeric_profile(name: str, column: pd.Series) -> FeatureProfile:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite = values[np.isfinite(values)]
    null_share = float(np.mean(~np.isfinite(values))) if len(values) else 0.0
    if not len(finite):
        return FeatureProfile(name, "numeric", null_share=null_share)
    quantiles = tuple(float(q) for q in np.quantile(finite, QUANTILE_LEVELS))
    integer = bool(np.all(np.floor(finite) == finite))
    distinct, counts = np.unique(finite, return_counts=True)
    shares = (
        tuple(
            (float(v), round(int(n) / len(finite), 9))
            for v, n in zip(distinct, counts, strict=True)
        )
        if len(distinct) <= MAX_CATEGORIES
        else None
    )
    return FeatureProfile(name, "numeric", null_share, quantiles, integer, value_shares=shares)


def _categorical_profile(name: str, column: pd.Series) -> FeatureProfile:
    present = column[column.notna()]
    null_share = 1.0 - len(present) / len(column) if len(column) else 0.0
    counts = present.map(_json_value).value_counts()
    total = max(len(column), 1)
    kept = counts.iloc[:MAX_CATEGORIES]
    categories = tuple((_json_value(v), round(int(n) / total, 6)) for v, n in kept.items())
    other = float(counts.iloc[MAX_CATEGORIES:].sum()) / total
    return FeatureProfile(name, "categorical", null_share, categories=categories, other_share=other)


def _is_numeric_column(column: pd.Series, accepted_kind: str) -> bool:
    if accepted_kind == "numeric":
        return True
    if accepted_kind == "categorical":
        return False
    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def profile_frame(
    frame: pd.DataFrame,
    accepted: Sequence[Mapping[str, Any]],
    *,
    named: bool,
    model_sha256: str,
    sample: int = SAMPLE_ROWS,
    seed: int = 0,
) -> tuple[Profile, tuple[str, ...]]:
    """Profile the model's features in ``frame``; return it and the columns left out (not
    features of the model, e.g. the target). ``accepted`` is the manifest's per-feature input."""
    if not 0 <= sample <= MAX_SAMPLE_ROWS:
        raise ConfigurationError(f"sample={sample} must be 0 to {MAX_SAMPLE_ROWS:,} rows")
    if frame.empty:
        raise ConfigurationError(
            "the rows to profile are empty; give the data the model was trained on"
        )
    names = [str(f[contract.FEATURE_NAME]) for f in accepted]
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if named:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise ConfigurationError(
                f"the rows lack {len(missing)} feature(s) the model takes: "
                f"{', '.join(missing[:10])}; give rows with every feature the model was fitted on"
            )
        left_out = tuple(c for c in frame.columns if c not in names)
        data = frame[names]
    else:
        if frame.shape[1] < len(names):
            raise ConfigurationError(
                f"the rows have {frame.shape[1]} column(s) but the model takes {len(names)} "
                "values per row; give rows of the shape it was fitted on"
            )
        left_out = tuple(str(c) for c in frame.columns[len(names) :])
        data = frame.iloc[:, : len(names)]
        data.columns = names
    features = tuple(
        _numeric_profile(name, data[name])
        if _is_numeric_column(data[name], str(spec.get(contract.FEATURE_KIND, "any")))
        else _categorical_profile(name, data[name])
        for name, spec in zip(names, accepted, strict=True)
    )
    kept: tuple[Any, ...] | None = None
    if sample:
        chosen = data.sample(n=min(sample, len(data)), random_state=seed).sort_index()
        numeric = [f.kind == "numeric" for f in features]
        kept = tuple(_row(chosen.iloc[i], named, numeric) for i in range(len(chosen)))
    profile = Profile("data", model_sha256, len(data), named, features, kept)
    return profile, left_out


def _row(series: pd.Series, named: bool, numeric: list[bool]) -> Any:
    values = [_json_value(v, n) for v, n in zip(series.tolist(), numeric, strict=True)]
    if named:
        return dict(zip(map(str, series.index), values, strict=True))
    return values


# --------------------------------------------------------------------------- from the model


def profile_from_hints(
    hints: Sequence[Mapping[str, Any]],
    accepted: Sequence[Mapping[str, Any]],
    *,
    named: bool,
    model_sha256: str,
) -> Profile:
    """A profile from what the fitted model reveals (``model_hints.feature_hints``); rows made
    from it are synthetic."""
    features = []
    for hint, spec in zip(hints, accepted, strict=True):
        name = str(spec[contract.FEATURE_NAME])
        # an encoder's categories are the values the model was trained on, whatever kind the
        # function reads the column as (integer codes of a model fitted on an array: numeric)
        categories = hint.get(contract.FEATURE_CATEGORIES) or spec.get(contract.FEATURE_CATEGORIES)
        if categories or spec.get(contract.FEATURE_KIND) == "categorical":
            values = list(categories or [])
            if not values:
                features.append(
                    FeatureProfile(
                        name,
                        "categorical",
                        categories=(("a", 1.0),),
                        hint="nothing revealed",
                        exact=False,
                    )
                )
                continue
            share = round(1.0 / len(values), 6)
            source = str(hint.get(contract.HINT_SOURCE, ""))
            features.append(
                FeatureProfile(
                    name,
                    "categorical",
                    categories=tuple((v, share) for v in values),
                    hint=source,
                    # an encoder's categories are all of them; an imputer's statistic is one
                    exact="statistic" not in source,
                )
            )
            continue
        features.append(_numeric_from_hint(name, hint))
    return Profile("model", model_sha256, 0, named, tuple(features), None)


def _numeric_from_hint(name: str, hint: Mapping[str, Any]) -> FeatureProfile:
    source = str(hint.get(contract.HINT_SOURCE, ""))
    low, high = hint.get(contract.HINT_LOW), hint.get(contract.HINT_HIGH)
    if low is not None and high is not None:
        low, high = float(low), float(high)
        quantiles = tuple(low + (high - low) * q for q in QUANTILE_LEVELS)
        # a scaler's data range, a discretizer's edges, an absolute-value bound: the training
        # data's own bounds; a tree's split thresholds (widened by 10%) are not
        exact = not source.endswith("splits")
        return FeatureProfile(name, "numeric", quantiles=quantiles, hint=source, exact=exact)
    center = hint.get(contract.HINT_CENTER)
    if center is not None:
        spread = hint.get(contract.HINT_SPREAD)
        sd = float(spread) if spread else max(abs(float(center)) * 0.5, 1.0)
        if not spread:
            source = f"{source}; spread assumed".strip("; ")
        quantiles = tuple(float(center) + z * sd for z in _Z)
        return FeatureProfile(name, "numeric", quantiles=quantiles, hint=source, exact=False)
    quantiles = tuple(QUANTILE_LEVELS)
    return FeatureProfile(
        name,
        "numeric",
        quantiles=quantiles,
        hint="nothing revealed: 0 to 1 assumed",
        exact=False,
    )


# --------------------------------------------------------------------------- rows from a profile


def synthetic_rows(
    profile: Profile, accepted: Sequence[Mapping[str, Any]], n: int, seed: int = 7
) -> list[Any]:
    """``n`` rows drawn from the profile: numeric values between its quantiles (whole numbers
    where the data had only whole numbers), categories by their shares, nulls by their share
    where the model takes them."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    nullable = {
        str(f[contract.FEATURE_NAME]): bool(f.get(contract.FEATURE_NULLABLE)) for f in accepted
    }
    for feature in profile.features:
        columns[feature.name] = _draw(feature, n, rng)
        if feature.null_share and nullable.get(feature.name):
            holes = rng.random(n) < feature.null_share
            columns[feature.name] = [
                None if h else v for v, h in zip(columns[feature.name], holes, strict=True)
            ]
    names = [f.name for f in profile.features]
    if profile.named:
        return [{name: columns[name][i] for name in names} for i in range(n)]
    return [[columns[name][i] for name in names] for i in range(n)]


def _draw(feature: FeatureProfile, n: int, rng: np.random.Generator) -> list[Any]:
    if feature.categories:
        values = [v for v, _ in feature.categories]
        shares = np.asarray([s for _, s in feature.categories], dtype=float)
        shares = (
            shares / shares.sum() if shares.sum() > 0 else np.full(len(values), 1 / len(values))
        )
        picks = rng.choice(len(values), size=n, p=shares)
        return [values[i] for i in picks]
    quantiles = feature.quantiles or QUANTILE_LEVELS
    drawn = np.interp(rng.random(n), QUANTILE_LEVELS, quantiles)
    if feature.integer:
        return [round(float(v)) for v in drawn]
    return [float(f"{v:.6g}") for v in drawn]
