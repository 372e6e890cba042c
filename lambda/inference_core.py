"""Pure inference core: what a fitted scikit-learn model expects, row validation, prediction.

No boto3, no event shapes, no environment: the handler and the benchmarks call these functions
with an estimator already in memory. The expected input is read from the estimator itself
(``feature_names_in_`` and, for a ``ColumnTransformer``, which columns are one-hot encoded and
with which known categories), so a user's own pipeline works without extra configuration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import pandas as pd

FeatureKind = Literal["numeric", "categorical", "any"]

MAX_STRING_LENGTH = 256
MAX_DETAILS = 50
MAX_EXACT_INT = 2**53  # larger integers do not survive the float64 the model computes with
MAX_JSON_DEPTH = 32  # rows are flat objects; deeper nesting is refused, never parsed
_MISSING: Any = object()
_NUMBER_TYPES = frozenset({float, int})
# Final estimators whose predict() is the class of highest predict_proba(): one pass serves both
_PROBA_DECIDES = frozenset(
    {
        "HistGradientBoostingClassifier",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
        "GradientBoostingClassifier",
        "LogisticRegression",
        "MLPClassifier",
        "GaussianNB",
    }
)

_NUMERIC_TRANSFORMERS = {
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "Normalizer",
    "PowerTransformer",
    "QuantileTransformer",
    "KBinsDiscretizer",
    "PolynomialFeatures",
    "SplineTransformer",
}
_ENCODERS = {"OneHotEncoder", "OrdinalEncoder", "TargetEncoder"}


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature: its name, kind, whether null is allowed and the known categories."""

    name: str
    kind: FeatureKind
    nullable: bool = False
    categories: tuple[Any, ...] | None = None  # set only when the model refuses unknown ones


@dataclass(frozen=True)
class ModelSchema:
    """What rows must look like for one fitted estimator."""

    features: tuple[FeatureSpec, ...]
    named: bool
    classes: tuple[Any, ...] | None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @cached_property
    def name_set(self) -> frozenset[str]:
        return frozenset(self.feature_names)

    @cached_property
    def category_sets(self) -> dict[str, frozenset[Any]]:
        return {f.name: frozenset(f.categories) for f in self.features if f.categories is not None}


@dataclass(frozen=True)
class Problem:
    """One reason a row was refused."""

    row: int | None
    field: str | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "problem": self.problem}


@dataclass
class RowCheck:
    """Validation of many rows: clean columns of the valid rows, problems of the rest."""

    valid_rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    matrix: list[list[float]] = field(default_factory=list)


# --------------------------------------------------------------------------- schema


def _class_name(obj: Any) -> str:
    return type(obj).__name__


def _steps(transformer: Any) -> list[Any]:
    if transformer in ("passthrough", "drop", None):
        return [transformer]
    steps = getattr(transformer, "steps", None)
    if steps is not None:
        return [step for _, step in steps]
    return [transformer]


def _column_transformer(estimator: Any) -> Any | None:
    if _class_name(estimator) == "ColumnTransformer":
        return estimator
    steps = getattr(estimator, "steps", None)
    if steps:
        return _column_transformer(steps[0][1])
    return None


def _encoded_categories(encoder: Any, position: int) -> tuple[Any, ...] | None:
    if getattr(encoder, "handle_unknown", "error") != "error":
        return None
    categories = getattr(encoder, "categories_", None)
    if categories is None or position >= len(categories):
        return None
    return tuple(np.asarray(categories[position]).tolist())


def _specs_from_column_transformer(ct: Any, names: list[str]) -> dict[str, FeatureSpec]:
    specs: dict[str, FeatureSpec] = {}
    for _, transformer, columns in getattr(ct, "transformers_", []):
        if isinstance(columns, str):
            columns = [columns]
        try:
            cols = [names[c] if isinstance(c, int | np.integer) else str(c) for c in columns]
        except (TypeError, IndexError):
            continue
        steps = _steps(transformer)
        kinds = {_class_name(s) for s in steps}
        nullable = "SimpleImputer" in kinds
        encoder = next((s for s in steps if _class_name(s) in _ENCODERS), None)
        for position, col in enumerate(cols):
            if encoder is not None:
                specs[col] = FeatureSpec(
                    col, "categorical", nullable, _encoded_categories(encoder, position)
                )
            elif transformer == "drop":
                specs[col] = FeatureSpec(col, "any", True)
            elif transformer == "passthrough" or kinds & _NUMERIC_TRANSFORMERS:
                specs[col] = FeatureSpec(col, "numeric", nullable)
            else:
                specs[col] = FeatureSpec(col, "any", nullable)
    return specs


def describe_model(estimator: Any) -> ModelSchema:
    """Read the expected input of a fitted estimator or pipeline."""
    raw_classes = getattr(estimator, "classes_", None)
    classes = tuple(np.asarray(raw_classes).tolist()) if raw_classes is not None else None
    names_attr = getattr(estimator, "feature_names_in_", None)
    if names_attr is None:
        n = int(getattr(estimator, "n_features_in_", 0))
        features = tuple(FeatureSpec(f"x{i}", "numeric") for i in range(n))
        return ModelSchema(features, named=False, classes=classes)
    names = [str(n) for n in names_attr]
    ct = _column_transformer(estimator)
    by_name = _specs_from_column_transformer(ct, names) if ct is not None else {}
    features = tuple(by_name.get(n, FeatureSpec(n, "numeric")) for n in names)
    return ModelSchema(features, named=True, classes=classes)


# --------------------------------------------------------------------------- validation


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _check_value(spec: FeatureSpec, value: Any) -> tuple[Any, str | None]:
    """Return (clean value, problem or None) for one cell."""
    if value is None:
        if spec.nullable:
            return (math.nan if spec.kind == "numeric" else None), None
        return None, "null is not allowed; send a value"
    kind = type(value)
    if kind is int and not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
        return None, (
            f"integer with {len(str(abs(value)))} digits is outside what a number can hold "
            f"exactly (at most {MAX_EXACT_INT:,} in absolute value)"
        )
    if spec.kind == "numeric":
        if kind is float or kind is int:
            if kind is float and not math.isfinite(value):
                return None, "not a finite number (NaN/Infinity are not allowed)"
            return float(value), None
        return None, f"expected a number, got {_type_name(value)}"
    if kind is str:
        if len(value) > MAX_STRING_LENGTH:
            return None, f"string too long ({len(value)} characters, at most {MAX_STRING_LENGTH})"
        if spec.categories is not None and value not in spec.categories:
            shown = ", ".join(repr(c) for c in spec.categories[:20])
            return None, f"unknown category {value[:40]!r}; expected one of [{shown}]"
        return value, None
    if spec.kind == "any" and (kind is int or kind is float):
        if kind is float and not math.isfinite(value):
            return None, "not a finite number (NaN/Infinity are not allowed)"
        return value, None
    numeric_categories = spec.categories and not isinstance(spec.categories[0], str)
    if spec.kind == "categorical" and (kind is int or kind is float) and numeric_categories:
        if value in (spec.categories or ()):
            return value, None
        return None, f"unknown category {value!r}"
    return None, f"expected a string, got {_type_name(value)}"


def _fast_check(schema: ModelSchema, rows: Sequence[Any]) -> RowCheck | None:
    """All rows valid? Checked column by column at C speed; None sends to the detailed check."""
    if not schema.named or not rows:
        return None
    names = schema.feature_names
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(names)}:
        return None
    try:  # every row has exactly the expected keys (same count, none missing)
        cells = (
            list(map(itemgetter(*names), rows))
            if len(names) > 1
            else [(r[names[0]],) for r in rows]
        )
    except KeyError:
        return None
    columns: dict[str, Any] = {}
    for spec, values in zip(schema.features, zip(*cells, strict=True), strict=True):
        types = set(map(type, values))
        if spec.kind == "numeric":
            if not types <= _NUMBER_TYPES:
                return None
            try:
                array = np.fromiter(values, dtype=float, count=len(values))
            except OverflowError:  # an integer too large for a float: the detailed check says so
                return None
            if not np.isfinite(array).all():
                return None
            if int in types and np.abs(array).max() > MAX_EXACT_INT:
                return None
            columns[spec.name] = array
        elif types == {str}:
            if spec.categories is not None:
                if not set(values) <= schema.category_sets[spec.name]:
                    return None
            elif max(map(len, values)) > MAX_STRING_LENGTH:
                return None
            columns[spec.name] = list(values)
        else:
            return None
    return RowCheck(valid_rows=list(range(len(rows))), columns=columns)


def check_rows(schema: ModelSchema, rows: Sequence[Any], first_row: int = 0) -> RowCheck:
    """Validate rows; collect clean values of valid rows column by column."""
    fast = _fast_check(schema, rows)
    if fast is not None:
        return fast
    result = RowCheck()
    names = schema.feature_names
    expected = set(names)
    clean_rows: list[list[Any]] = []
    for i, row in enumerate(rows):
        index = first_row + i
        problems: list[Problem] = []
        if schema.named and isinstance(row, Mapping):
            values = [row.get(n, _MISSING) for n in names]
            for key in row:
                if key not in expected:
                    problems.append(Problem(index, str(key)[:80], "unexpected feature"))
        elif not schema.named and isinstance(row, list | tuple):
            if len(row) != len(names):
                problems.append(
                    Problem(index, None, f"expected {len(names)} values, got {len(row)}")
                )
                values = []
            else:
                values = list(row)
        else:
            want = "an object keyed by feature name" if schema.named else "a list of numbers"
            problems.append(Problem(index, None, f"row must be {want}, got {_type_name(row)}"))
            values = []
        clean: list[Any] = []
        for spec, value in zip(schema.features, values, strict=False):
            if value is _MISSING:
                problems.append(Problem(index, spec.name, "missing"))
                continue
            cleaned, problem = _check_value(spec, value)
            if problem is not None:
                problems.append(Problem(index, spec.name, problem))
            clean.append(cleaned)
        if problems:
            result.problems.extend(problems)
        else:
            result.valid_rows.append(i)
            clean_rows.append(clean)
    if schema.named:
        result.columns = {n: [r[j] for r in clean_rows] for j, n in enumerate(names)}
    else:
        result.matrix = clean_rows
    return result


# --------------------------------------------------------------------------- prediction


def to_model_input(schema: ModelSchema, check: RowCheck) -> Any:
    """Build the estimator's input for the valid rows of a check."""
    if not schema.named:
        return np.asarray(check.matrix, dtype=float)
    data: dict[str, Any] = {}
    for spec in schema.features:
        values = check.columns[spec.name]
        if spec.kind == "numeric":
            data[spec.name] = np.asarray(values, dtype=float)
        else:
            data[spec.name] = pd.array(values, dtype=object) if values else np.array([], object)
    return pd.DataFrame(data, columns=schema.feature_names)


@dataclass(frozen=True)
class Predictions:
    """Predictions for the valid rows (in order) and, for classifiers, their probabilities."""

    predictions: list[Any]
    probabilities: list[list[float]] | None


def _final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return _final_step(steps[-1][1]) if steps else estimator


def predict(estimator: Any, model_input: Any) -> Predictions:
    """Predict and convert to JSON-ready Python values.

    For classifiers whose prediction is the most probable class, labels come from the same
    ``predict_proba`` pass (identical to ``predict``, half the work); otherwise both are called.
    """
    if not hasattr(estimator, "predict_proba"):
        return Predictions(np.asarray(estimator.predict(model_input)).tolist(), None)
    proba = np.asarray(estimator.predict_proba(model_input))
    classes = getattr(estimator, "classes_", None)
    if type(_final_step(estimator)).__name__ in _PROBA_DECIDES and classes is not None:
        labels = np.asarray(classes).take(np.argmax(proba, axis=1))
    else:
        labels = np.asarray(estimator.predict(model_input))
    return Predictions(labels.tolist(), proba.tolist())


def invalid_input(
    schema: ModelSchema, message: str, problems: Sequence[Problem] = ()
) -> dict[str, Any]:
    """The structured error answer for bad input (not a function error)."""
    return {
        "error": {
            "type": "InvalidInput",
            "message": message,
            "details": [p.as_dict() for p in problems[:MAX_DETAILS]],
            "details_truncated": len(problems) > MAX_DETAILS,
            "expected_features": schema.feature_names if schema.named else len(schema.features),
        }
    }


def predict_request(
    estimator: Any, schema: ModelSchema, instances: Any, max_rows: int
) -> dict[str, Any]:
    """Realtime request: every row must be valid, or the whole request gets one error answer."""
    if not isinstance(instances, list):
        return invalid_input(
            schema,
            f"'instances' must be a list of rows, got {_type_name(instances)}",
            [Problem(None, "instances", "not a list")],
        )
    if not instances:
        return invalid_input(
            schema,
            "'instances' is empty: send at least one row",
            [Problem(None, "instances", "empty")],
        )
    if len(instances) > max_rows:
        return invalid_input(
            schema,
            f"{len(instances)} rows is over MAX_ROWS={max_rows} for a realtime request; "
            "send fewer rows or use run_batch for large inputs",
            [Problem(None, "instances", f"over {max_rows} rows")],
        )
    check = check_rows(schema, instances)
    if check.problems:
        bad = len({p.row for p in check.problems})
        return invalid_input(
            schema,
            f"{bad} of {len(instances)} rows are invalid; fix them and resend",
            check.problems,
        )
    result = predict(estimator, to_model_input(schema, check))
    answer: dict[str, Any] = {"predictions": result.predictions}
    if result.probabilities is not None:
        answer["probabilities"] = result.probabilities
        answer["classes"] = list(schema.classes or ())
    return answer


def predict_records(
    estimator: Any, schema: ModelSchema, rows: Sequence[Any], first_row: int = 0
) -> list[dict[str, Any]]:
    """Batch rows: one record per input row, in order; invalid rows become error records."""
    check = check_rows(schema, rows, first_row)
    records: list[dict[str, Any]] = [{"row": first_row + i} for i in range(len(rows))]
    for p in check.problems:
        record = records[(p.row if p.row is not None else first_row) - first_row]
        errors = record.setdefault("error", {"type": "InvalidInput", "details": []})
        errors["details"].append({"field": p.field, "problem": p.problem})
    if check.valid_rows:
        result = predict(estimator, to_model_input(schema, check))
        probs = result.probabilities
        for j, i in enumerate(check.valid_rows):
            records[i]["prediction"] = result.predictions[j]
            if probs is not None:
                records[i]["probabilities"] = probs[j]
    return records


# --------------------------------------------------------------------------- JSON text


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key[:80]!r}")
        seen[key] = value
    return seen


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON text, refusing duplicate keys (a silent last-wins would hide client bugs) and
    nesting deeper than ``MAX_JSON_DEPTH``; every refusal is a ``ValueError``."""
    if _depth_over(text, MAX_JSON_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError as err:  # pragma: no cover - _depth_over catches it first
        raise ValueError("JSON nested too deeply") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text: {err.reason}") from err


def _depth_over(text: str | bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (a linear scan, no parse)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False
