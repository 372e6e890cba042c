"""Rows that fit the model, from the model's own files: what the notebooks and the CLI send.

``model_rows(path)`` takes, in this order: the rows you give (a CSV, Parquet or JSON-lines file,
a DataFrame or a list of rows; columns that are not features of the model are left out and
named), else the real rows kept in the manifest's profile, else rows drawn from the profile,
which are then *synthetic* (made from what the model reveals, not from data) and say so
wherever they are shown. ``take(n)`` draws ``n`` of them (with replacement when there are fewer),
and can make every k-th row invalid on purpose, in a way that fits this model
(``breakage``); ``bad_cases`` derives the bad-input cases from the manifest, each saying why it
does not apply to this model when it does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ops.display import Card, Shown
from ops.errors import ConfigurationError
from ops.inputs.payloads import to_rows
from ops.modelfiles.manifest import ModelManifest
from ops.modelfiles.profile import Profile, synthetic_rows
from ops.modelfiles.versions import DEFAULT_MODEL_PATH, PROJECT_ROOT
from reintento_function import contract

EXTRA_FEATURE = "not_a_feature"


@dataclass(frozen=True)
class BadCase:
    """One kind of bad request, built for one model, or why it does not apply to it."""

    case: str
    rows: list[Any] | None  # None: does not apply (``why_not`` says why)
    why_not: str = ""
    field: str | None = None  # the field the answer should name


def _first(features: Sequence[Mapping[str, Any]], test: Any) -> Mapping[str, Any] | None:
    return next((f for f in features if test(f)), None)


def _unknown_category(feature: Mapping[str, Any]) -> Any:
    known = list(feature.get(contract.FEATURE_CATEGORIES) or [])
    if known and all(isinstance(c, int | float) and not isinstance(c, bool) for c in known):
        return max(known) + 1
    candidate = "not-a-category"
    while candidate in known:
        candidate += "-x"
    return candidate


def with_value(row: Any, names: list[str], name: str, value: Any) -> Any:
    """``row`` with one feature's value replaced (by name, or by its place in ``names``)."""
    if isinstance(row, Mapping):
        return {**row, name: value}
    changed = list(row)
    changed[names.index(name)] = value
    return changed


def bad_cases(manifest: ModelManifest, good: Any) -> list[BadCase]:
    """The bad-input cases for this model, built from a good row and the manifest: a missing
    feature, an unknown category, text in a number, a null the model refuses, an extra feature,
    an empty request; a case this model has no feature for says why."""
    features = manifest.features or []
    names = [str(f[contract.FEATURE_NAME]) for f in features]
    named = isinstance(good, Mapping)
    first = names[0] if names else None
    missing = {k: v for k, v in good.items() if k != first} if named else list(good)[:-1]
    categorical = _first(features, lambda f: f.get(contract.FEATURE_CATEGORIES))
    numeric = _first(features, lambda f: f.get(contract.FEATURE_KIND) == "numeric")
    refuses_null = _first(features, lambda f: not f.get(contract.FEATURE_NULLABLE))
    extra = {**good, EXTRA_FEATURE: 1} if named else [*good, 0.0]
    return [
        BadCase("missing feature", [missing], field=first if named else None),
        BadCase(
            "unknown category",
            [
                with_value(
                    good,
                    names,
                    str(categorical[contract.FEATURE_NAME]),
                    _unknown_category(categorical),
                )
            ]
            if categorical
            else None,
            "no feature of this model refuses unknown categories (it has no categorical "
            "feature, or its encoders ignore unknown values)",
            str(categorical[contract.FEATURE_NAME]) if categorical else None,
        ),
        BadCase(
            "text for a number",
            [with_value(good, names, str(numeric[contract.FEATURE_NAME]), "not a number")]
            if numeric
            else None,
            "this model has no numeric feature",
            str(numeric[contract.FEATURE_NAME]) if numeric else None,
        ),
        BadCase(
            "null where not allowed",
            [with_value(good, names, str(refuses_null[contract.FEATURE_NAME]), None)]
            if refuses_null
            else None,
            "every feature of this model accepts null (its imputers or the estimator itself "
            "take missing values)",
            str(refuses_null[contract.FEATURE_NAME]) if refuses_null else None,
        ),
        BadCase("extra feature", [extra], field=EXTRA_FEATURE if named else None),
        BadCase("empty request", [], field=contract.EVENT_REALTIME),
    ]


def breakage(manifest: ModelManifest) -> BadCase | None:
    """How to make a row of this model invalid on purpose, in a way that survives a table (a
    missing key of a table's row is a null there, which the model may take): an unknown category
    where a feature refuses them, else text in a numeric feature, else a number in a feature
    that takes text; a row of values one short, for a model without feature names."""
    features = manifest.features or []
    if not features:
        return None
    names = [str(f[contract.FEATURE_NAME]) for f in features]
    sample: Any = {n: 0 for n in names} if manifest.named else [0.0] * len(features)
    cases = {c.case: c for c in bad_cases(manifest, sample)}
    for name in ("unknown category", "text for a number"):
        if cases[name].rows is not None:
            return cases[name]
    text = _first(features, lambda f: f.get(contract.FEATURE_KIND) == "categorical")
    if text is not None:
        field = str(text[contract.FEATURE_NAME])
        return BadCase("number for text", [with_value(sample, names, field, 12345)], field=field)
    return None if manifest.named else cases["missing feature"]


def _break(row: Any, case: BadCase, manifest: ModelManifest) -> Any:
    """``row`` broken the way ``case`` breaks its own sample row."""
    broken = (case.rows or [row])[0]
    names = [str(f[contract.FEATURE_NAME]) for f in manifest.features or []]
    if case.case == "missing feature":
        return {k: v for k, v in row.items() if k != names[0]} if manifest.named else row[:-1]
    assert case.field is not None
    value = broken[case.field] if manifest.named else broken[names.index(case.field)]
    return with_value(row, names, case.field, value)


@dataclass(frozen=True)
class ModelRows(Shown):
    """Rows for one model, as a client sends them (dicts by feature name, or lists of values);
    a sequence of rows."""

    rows: tuple[Any, ...] = field(repr=False, compare=False)
    # what they are: "file NAME"/"rows" (given), "sample" (the profile's real rows), "synthetic"
    # (drawn from a profile made from the model), "profile" (drawn from a data profile)
    source: str
    synthetic: bool
    named: bool
    features: tuple[str, ...] = field(repr=False)
    left_out: tuple[str, ...] = field(default=(), repr=False)
    invalid: tuple[int, ...] = field(default=(), repr=False)
    invalid_how: str = field(default="", repr=False)
    manifest: ModelManifest | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> Any:
        return self.rows[index]

    @property
    def described(self) -> str:
        if self.source.startswith("drifted: "):
            return f"moved on purpose: {self.source.removeprefix('drifted: ')}"
        if self.source == "synthetic":
            return "synthetic: drawn from a profile made from the model itself (no data given)"
        if self.synthetic:
            return "synthetic: drawn from the profile of your data (no rows of it were kept)"
        if self.source == "sample":
            return "real rows: the sample kept in the model's profile"
        return f"your rows: {self.source.removeprefix('file ')}"

    def take(self, n: int, *, seed: int = 7, invalid_every: int = 0) -> ModelRows:
        """``n`` rows drawn from these (without replacement when there are enough), every
        ``invalid_every``-th of them made invalid on purpose (a way that fits the model)."""
        if n < 1:
            raise ConfigurationError(f"n={n} must be at least 1")
        rng = np.random.default_rng(seed)
        profile = self.manifest.input_profile if self.manifest else None
        if self.synthetic and profile is not None and self.manifest is not None:
            picked = synthetic_rows(profile, self.manifest.features or [], n, seed)
        else:
            order = rng.choice(len(self.rows), size=n, replace=n > len(self.rows))
            picked = [self.rows[int(i)] for i in (order if n > len(self.rows) else sorted(order))]
        invalid: list[int] = []
        how = ""
        case = breakage(self.manifest) if invalid_every and self.manifest else None
        if case is not None and self.manifest is not None:
            invalid = list(range(invalid_every - 1, n, invalid_every))
            for i in invalid:
                picked[i] = _break(picked[i], case, self.manifest)
            how = f"{case.case} ({case.field})" if case.field else case.case
        return replace(self, rows=tuple(picked), invalid=tuple(invalid), invalid_how=how)

    def drifted(self, *, seed: int = 7) -> ModelRows:
        """These rows moved away from the training data on purpose (to see drift reported):
        the first numeric feature with a training range gets values beyond its maximum; a model
        with no numeric feature gets its first categorical one's rarest training category.
        Every row stays one the model takes."""
        profile = self.manifest.input_profile if self.manifest else None
        if profile is None:
            raise ConfigurationError(
                "these rows' model has no profile to drift away from; make one with "
                "`python -m ops profile-model PATH`"
            )
        rng = np.random.default_rng(seed)
        numeric = [f for f in profile.features if f.low is not None and f.high is not None]
        categorical = [f for f in profile.features if f.categories]
        if numeric:
            feature = numeric[0]
            low, high = float(feature.low or 0.0), float(feature.high or 0.0)
            width = (high - low) or max(abs(high), 1.0)
            values: list[Any] = [
                float(f"{high + width * u:.6g}") for u in rng.uniform(0.5, 1.5, len(self.rows))
            ]
            if feature.integer:
                values = [round(v) for v in values]
            how = f"{feature.name} beyond its training maximum {high:.4g}"
        elif categorical:
            feature = categorical[0]
            rarest = min(feature.categories or (), key=lambda c: c[1])[0]
            values = [rarest] * len(self.rows)
            how = f"{feature.name} always {rarest!r}, its rarest training category"
        else:
            raise ConfigurationError("the model's profile has no feature to move")
        at = list(self.features).index(feature.name)
        moved = tuple(
            _with(row, feature.name, at, v) for row, v in zip(self.rows, values, strict=True)
        )
        return replace(self, rows=moved, source=f"drifted: {how}", synthetic=True)

    def frame(self) -> pd.DataFrame:
        """The rows as a table, a column per feature (``x0..`` for a model without names)."""
        if self.named:
            return pd.DataFrame(list(self.rows))
        return pd.DataFrame([list(r) for r in self.rows], columns=list(self.features))

    def batch_input(self) -> Any:
        """What ``run_batch`` sends: a table for a model with feature names, else the lists."""
        return self.frame() if self.named else [list(r) for r in self.rows]

    def card(self) -> Card:
        return Card(
            "Rows",
            f"{len(self.rows):,} row(s), {self.described}",
            ok=True,
            key=(
                ("rows", len(self.rows)),
                ("source", self.described),
                ("synthetic", "yes: not real data" if self.synthetic else "no"),
                ("features", len(self.features)),
                (
                    "invalid on purpose",
                    f"{len(self.invalid):,} ({self.invalid_how})" if self.invalid else None,
                ),
            ),
            details=(("left out (not features)", ", ".join(self.left_out) or None),),
        )

    def record(self) -> dict[str, Any]:
        return {
            "rows": len(self.rows),
            "source": self.source.split(" ")[0],
            "synthetic": self.synthetic,
            "features": list(self.features),
            "invalid": len(self.invalid),
        }


def _given(rows: Any, manifest: ModelManifest) -> tuple[list[Any], str, tuple[str, ...]]:
    """Rows the user gave, restricted to the model's features (the others named)."""
    from ops.inputs.batch_io import read_rows

    source = "rows"
    if isinstance(rows, str | Path):
        path = Path(rows)
        if not path.is_absolute() and not path.exists() and (PROJECT_ROOT / path).exists():
            path = PROJECT_ROOT / path  # relative to the project folder (notebooks run inside it)
        source = f"file {path.name}"
        rows = read_rows(path)
    listed = to_rows(rows)
    if not listed:
        raise ConfigurationError("the rows are empty; give at least one row")
    names = [str(f[contract.FEATURE_NAME]) for f in manifest.features or []]
    numeric = {
        str(f[contract.FEATURE_NAME])
        for f in manifest.features or []
        if f.get(contract.FEATURE_KIND) == "numeric"
    }
    if not manifest.named:  # by position: the first columns, in order (a table's or a list's)
        left_out: tuple[str, ...] = ()
        if isinstance(listed[0], Mapping):
            left_out = tuple(str(k) for k in list(listed[0])[len(names) :])
            listed = [list(r.values()) for r in listed]
        kept = [
            [_number(v) if f"x{i}" in numeric else v for i, v in enumerate(r[: len(names)])]
            for r in listed
        ]
        return kept, source, left_out
    if not all(isinstance(r, Mapping) for r in listed):
        raise ConfigurationError(
            f"the model takes rows by feature name ({', '.join(names[:5])}...); give a table "
            "with a column per feature, or JSON objects"
        )
    missing = [n for n in names if n not in listed[0]]
    if missing:
        raise ConfigurationError(
            f"the rows lack {len(missing)} feature(s) the model takes: {', '.join(missing[:10])}"
        )
    left_out = tuple(str(k) for k in listed[0] if k not in names)
    rows_out = [{n: _number(r.get(n)) if n in numeric else r.get(n) for n in names} for r in listed]
    return rows_out, source, left_out


def _number(value: Any) -> Any:
    """A boolean where the model takes a number, as 0 or 1 (what ``model.predict`` makes of it;
    the function takes numbers only)."""
    return int(value) if isinstance(value, bool) else value


def model_rows(path: Path | str = DEFAULT_MODEL_PATH, *, rows: Any = None) -> ModelRows:
    """Rows for the model at ``path``: ``rows`` (a file, frame or list) if given, else the real
    rows of its manifest's profile, else rows drawn from the profile (synthetic)."""
    from ops.modelfiles.demo_model import prepare_model

    manifest = prepare_model(Path(path))
    if rows is None or (isinstance(rows, str) and not rows):
        return rows_of(manifest)
    picked, source, left_out = _given(rows, manifest)
    return _rows(manifest, picked, source, synthetic=False, left_out=left_out)


def rows_of(manifest: ModelManifest) -> ModelRows:
    """Rows for the model a manifest describes: the real rows of its profile, else rows drawn
    from the profile (synthetic)."""
    profile: Profile | None = manifest.input_profile
    if profile is not None and profile.sample:
        picked, source, synthetic = list(profile.sample), "sample", False
    elif profile is not None:
        picked = synthetic_rows(profile, manifest.features or [], 200, seed=0)
        source, synthetic = ("synthetic" if profile.synthetic else "profile"), True
    else:
        raise ConfigurationError(f"{manifest.file} has no profile; run ops.profile_model first")
    return _rows(manifest, picked, source, synthetic=synthetic)


def _rows(
    manifest: ModelManifest,
    picked: list[Any],
    source: str,
    *,
    synthetic: bool,
    left_out: tuple[str, ...] = (),
) -> ModelRows:
    return ModelRows(
        rows=tuple(picked),
        source=source,
        synthetic=synthetic,
        named=manifest.named,
        features=tuple(str(f[contract.FEATURE_NAME]) for f in manifest.features or []),
        left_out=left_out,
        manifest=manifest,
    )


def _with(row: Any, name: str, position: int, value: Any) -> Any:
    """``row`` with one feature's value replaced (by name, or by position in a list)."""
    if isinstance(row, Mapping):
        return {**row, name: value}
    values = list(row)
    values[position] = value
    return values
