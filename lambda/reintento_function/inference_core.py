"""Pure inference core: what a fitted scikit-learn model expects, row validation, prediction.

No boto3, no event shapes, no environment: the handler and the benchmarks call these functions
with an estimator already in memory. The expected input is read from the estimator itself
(``feature_names_in_`` and, for a ``ColumnTransformer``, which columns are one-hot encoded and
with which known categories), so a user's own pipeline works without extra configuration.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import itemgetter
from typing import Any, Literal

import numpy as np

from reintento_function import contract
from reintento_function.onnx_engine import CompiledModel

FeatureKind = Literal["numeric", "categorical", "any"]

MAX_STRING_LENGTH = 256
MAX_DETAILS = 50
MAX_EXACT_INT = 2**53  # larger integers do not survive the float64 the model computes with
MAX_JSON_DEPTH = 32  # rows are flat objects; deeper nesting is refused, never parsed
_MISSING: Any = object()
_NUMBER_TYPES = frozenset({float, int})


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature: its name, kind, whether null is allowed and the known categories."""

    name: str
    kind: FeatureKind
    nullable: bool = False
    categories: tuple[Any, ...] | None = None  # set only when the model refuses unknown ones
    # what a JSON null becomes for the model (NaN or None: what its imputer/encoder learned)
    null_as: Any = field(default=None, compare=False, repr=False)


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

    @cached_property
    def text_category_sets(self) -> dict[str, frozenset[str]]:
        """The known categories of the features whose categories are all strings a row may
        send (none longer than a string may be)."""
        return {
            name: known
            for name, known in self.category_sets.items()
            if all(type(c) is str and len(c) <= MAX_STRING_LENGTH for c in known)
        }


# shown the valid rows of a request or slice: their values by feature, and how many rows
Seen = Callable[[Mapping[str, Any], int], None]


@dataclass(frozen=True)
class Problem:
    """One reason a row was refused."""

    row: int | None
    field: str | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {
            contract.DETAIL_ROW: self.row,
            contract.DETAIL_FIELD: self.field,
            contract.DETAIL_PROBLEM: self.problem,
        }


@dataclass
class RowCheck:
    """Validation of many rows: clean columns of the valid rows, problems of the rest."""

    valid_rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    matrix: list[list[float]] = field(default_factory=list)


# --------------------------------------------------------------------------- schema
#
# What each feature accepts is asked of scikit-learn's public API, never decided by class names:
# a fitted ColumnTransformer's ``transformers_`` says which steps each column goes through; a
# step with a ``missing_values`` parameter (an imputer) replaces missing values; a step with
# ``categories_`` (an encoder) knows its categories, and its ``handle_unknown`` parameter says
# whether it refuses others; every other step's tags (``sklearn.utils.get_tags``) say whether it
# takes strings (``input_tags.string``/``categorical``) and NaN (``input_tags.allow_nan``). Where
# the model cannot tell, the check lets the value through and the model decides (a refused row
# becomes that row's ``InvalidInput``, see ``predict_attributed``).


def is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    pandas = sys.modules.get("pandas")  # pandas' NA exists only once pandas is imported
    return pandas is not None and value is pandas.NA


def flatten_steps(estimator: Any) -> list[Any]:
    """The steps a row goes through, nested pipelines flattened (``passthrough`` kept)."""
    from sklearn.pipeline import Pipeline

    steps = getattr(estimator, "steps", None)
    if isinstance(estimator, Pipeline) and steps:
        return [inner for _, step in steps for inner in flatten_steps(step)]
    return [estimator]


def _imputed_marker(step: Any) -> Any:
    """The missing-value marker an imputer-like step replaces, or ``_MISSING`` if none."""
    get_params = getattr(step, "get_params", None)
    if get_params is None:
        return _MISSING
    marker = get_params(deep=False).get("missing_values", _MISSING)
    return marker if marker is not _MISSING and is_missing(marker) else _MISSING


def column_selection(columns: Any, names: list[str]) -> list[str]:
    """A ColumnTransformer's column selection (names, indices, a mask or a slice) as names."""
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    if isinstance(columns, slice):
        return names[columns]
    selected = np.asarray(columns)
    if selected.dtype == bool:
        return [n for n, keep in zip(names, selected, strict=False) if keep]
    return [names[int(c)] if isinstance(c, int | np.integer) else str(c) for c in selected]


def _encoder_spec(name: str, encoder: Any, position: int) -> FeatureSpec | None:
    """A column's contract read from an encoder's learned categories, if it has them."""
    learned = getattr(encoder, "categories_", None)
    if learned is None or position >= len(learned):
        return None
    values = np.asarray(learned[position]).tolist()
    missing = [v for v in values if is_missing(v)]
    known = tuple(v for v in values if not is_missing(v))
    strict = encoder.get_params(deep=False).get("handle_unknown") == "error"
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in known)
    # null is accepted when missing is a learned category, or when unknown values are handled
    null_as = missing[0] if missing else (None if not numbers else math.nan)
    if strict:
        return FeatureSpec(name, "categorical", bool(missing), known, null_as=null_as)
    return FeatureSpec(name, "numeric" if numbers and known else "categorical", True, None, null_as)


def _path_spec(name: str, path: Sequence[Any], position: int) -> FeatureSpec:
    """What a column accepts, read along the steps it goes through (the final estimator last)."""
    null_as: Any = math.nan
    imputed = False
    for at, step in enumerate(path):
        if _passes_through(step):
            continue
        if isinstance(step, str):  # "drop": the model ignores the column
            return FeatureSpec(name, "any", True, None, None)
        marker = _imputed_marker(step)
        if marker is not _MISSING:  # an imputer: null is fine, what follows decides the kind
            imputed, null_as = True, marker
            continue
        encoded = _encoder_spec(name, step, position)
        if encoded is not None:
            return replace(encoded, nullable=True, null_as=null_as) if imputed else encoded
        from sklearn.utils import get_tags

        tags = get_tags(step).input_tags
        kind: FeatureKind = "any" if tags.string or tags.categorical else "numeric"
        nullable = imputed or (tags.allow_nan and _nan_reaches_the_end(path[at + 1 :]))
        return FeatureSpec(name, kind, nullable, None, null_as if imputed else math.nan)
    return FeatureSpec(name, "any", True, None, None)


def _passes_through(step: Any) -> bool:
    """``passthrough`` (or None), or what a fitted ColumnTransformer makes of it: a transformer
    whose ``func`` is None (scikit-learn's FunctionTransformer then transforms by identity),
    which hands its column on unchanged."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return True
    return getattr(step, "func", 0) is None and callable(getattr(step, "transform", None))


def _nan_reaches_the_end(after: Sequence[Any]) -> bool:
    """Whether NaN is accepted by every step of ``after`` (or imputed on the way)."""
    from sklearn.utils import get_tags

    for step in after:
        if step is None or isinstance(step, str):
            continue
        if _imputed_marker(step) is not _MISSING:
            return True
        if not get_tags(step).input_tags.allow_nan:
            return False
    return True


def transformer_position(steps: list[Any]) -> int | None:
    """Where the fitted ColumnTransformer (a step with ``transformers_``) is, if any."""
    return next((i for i, s in enumerate(steps) if hasattr(s, "transformers_")), None)


def fitted_input(estimator: Any, steps: list[Any]) -> tuple[Any, int]:
    """The fitted input's column names (None: fitted without) and count: the estimator's own,
    else those of its first step that has them (a pipeline that starts with "passthrough" has
    none of its own)."""
    for part in (estimator, *(s for s in steps if s is not None and not isinstance(s, str))):
        names = getattr(part, "feature_names_in_", None)
        count = getattr(part, "n_features_in_", None)
        if names is not None:
            return names, len(names)
        if count is not None:
            return None, int(count)
    return None, 0


def describe_model(estimator: Any) -> ModelSchema:
    """Read the expected input of a fitted estimator or pipeline."""
    raw_classes = getattr(estimator, "classes_", None)
    classes = tuple(np.asarray(raw_classes).tolist()) if raw_classes is not None else None
    steps = flatten_steps(estimator)
    names_attr, n = fitted_input(estimator, steps)
    if names_attr is None:
        spec = _path_spec("x", steps, 0)
        kind: FeatureKind = "numeric"  # rows are lists of numbers
        nullable = spec.nullable and spec.kind == "numeric"
        features = tuple(FeatureSpec(f"x{i}", kind, nullable) for i in range(n))
        return ModelSchema(features, named=False, classes=classes)
    names = [str(n) for n in names_attr]
    at = transformer_position(steps)
    if at is None:
        features = tuple(_path_spec(n, steps, i) for i, n in enumerate(names))
        return ModelSchema(features, named=True, classes=classes)
    ct, after = steps[at], steps[at + 1 :]
    by_name: dict[str, FeatureSpec] = {}
    for _, transformer, columns in ct.transformers_:
        try:
            selected = column_selection(columns, names)
        except (TypeError, IndexError, ValueError):
            continue
        branch = [transformer] if isinstance(transformer, str) else flatten_steps(transformer)
        for position, column in enumerate(selected):
            by_name[column] = _path_spec(column, [*branch, *after], position)
    features = tuple(by_name.get(n, FeatureSpec(n, "any", True, None, None)) for n in names)
    return ModelSchema(features, named=True, classes=classes)


def schema_from_manifest(manifest: Mapping[str, Any]) -> ModelSchema:
    """The schema a manifest records (its ``accepted_input`` and classes), for a model served
    without its estimator in memory (the compiled engine): the same row checks, the same
    messages. ``ValueError`` when the manifest records none."""
    features = manifest.get(contract.MANIFEST_FEATURES)
    if not isinstance(features, list) or not features:
        raise ValueError("the manifest records no features")
    specs = []
    for feature in features:
        kind = feature[contract.FEATURE_KIND]
        categories = feature.get(contract.FEATURE_CATEGORIES)
        specs.append(
            FeatureSpec(
                str(feature[contract.FEATURE_NAME]),
                kind if kind in ("numeric", "categorical", "any") else "any",
                bool(feature.get(contract.FEATURE_NULLABLE)),
                tuple(categories) if categories is not None else None,
                null_as=math.nan if kind == "numeric" else None,
            )
        )
    classes = manifest.get(contract.MANIFEST_CLASSES)
    named = manifest.get(contract.MANIFEST_FEATURE_NAMES) is not None
    return ModelSchema(tuple(specs), named=named, classes=tuple(classes) if classes else None)


def accepted_input(schema: ModelSchema) -> list[dict[str, Any]]:
    """Per feature, what the model accepts: the describe-model answer and the manifest's."""
    return [
        {
            contract.FEATURE_NAME: f.name,
            contract.FEATURE_KIND: f.kind,
            contract.FEATURE_NULLABLE: f.nullable,
            contract.FEATURE_CATEGORIES: list(f.categories) if f.categories is not None else None,
        }
        for f in schema.features
    ]


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
            return (math.nan if spec.kind == "numeric" else spec.null_as), None
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
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(schema.features)}:
        return None
    columns: dict[str, Any] = {}
    known_texts = schema.text_category_sets
    for spec in schema.features:
        try:  # with the same key count, none missing means exactly the expected keys
            values = list(map(itemgetter(spec.name), rows))
        except KeyError:
            return None
        if spec.kind == "numeric":
            array = _numbers(values)
            if array is None:
                return None
            columns[spec.name] = array
            continue
        if set(map(type, values)) != {str}:  # str itself: not a subclass, not NumPy's str_
            return None
        known = known_texts.get(spec.name)
        if known is not None:
            if not set(values) <= known:
                return None
        elif spec.categories is not None or max(map(len, values)) > MAX_STRING_LENGTH:
            return None
        columns[spec.name] = values
    return RowCheck(valid_rows=list(range(len(rows))), columns=columns)


def _numbers(values: list[Any]) -> Any:
    """A column of finite floats and exact integers as float64, else None."""
    types = set(map(type, values))
    if not types <= _NUMBER_TYPES:
        return None
    try:
        array = np.fromiter(values, dtype=float, count=len(values))
    except OverflowError:  # an integer too large for a float: the detailed check says so
        return None
    if not np.isfinite(array).all():
        return None
    # as floats, 2**53 + 1 equals 2**53: the detailed check judges the integers there
    if int in types and np.abs(array).max() >= MAX_EXACT_INT:
        return None
    return array


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
                    problems.append(Problem(index, str(key)[:80], contract.PROBLEM_UNEXPECTED))
        elif not schema.named and isinstance(row, list | tuple):
            if len(row) != len(names):
                problems.append(
                    Problem(
                        index,
                        None,
                        f"{contract.PROBLEM_EXPECTED}{len(names)} values, got {len(row)}",
                    )
                )
                values = []
            else:
                values = list(row)
        else:
            want = "an object keyed by feature name" if schema.named else "a list of numbers"
            shape = f"{contract.PROBLEM_ROW_MUST_BE}{want}, got {_type_name(row)}"
            problems.append(Problem(index, None, shape))
            values = []
        clean: list[Any] = []
        for spec, value in zip(schema.features, values, strict=False):
            if value is _MISSING:
                problems.append(Problem(index, spec.name, contract.PROBLEM_MISSING))
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
    import pandas as pd

    data: dict[str, Any] = {}
    for spec in schema.features:
        values = check.columns[spec.name]
        if spec.kind == "numeric":
            data[spec.name] = np.asarray(values, dtype=float)
        else:
            data[spec.name] = pd.array(values, dtype=object) if values else np.array([], object)
    return pd.DataFrame(data, columns=schema.feature_names)


def model_input(estimator: Any, schema: ModelSchema, check: RowCheck) -> Any:
    """The input ``estimator`` takes for the valid rows of a check: a compiled model's feeds,
    else ``to_model_input``'s frame or matrix."""
    if isinstance(estimator, CompiledModel):
        return estimator.feed(check.columns if schema.named else None, check.matrix)
    return to_model_input(schema, check)


@dataclass(frozen=True)
class Predictions:
    """Predictions for the valid rows (in order) and, for classifiers, their probabilities."""

    predictions: list[Any]
    probabilities: list[list[float]] | None
    one_pass: bool = False  # predict() shared a pass with predict_proba()


def _split(estimator: Any) -> tuple[list[Any], Any]:
    """A pipeline's transforms (nested pipelines flattened) and its final estimator."""
    steps = flatten_steps(estimator)
    transforms = [s for s in steps[:-1] if s is not None and not isinstance(s, str)]
    return transforms, steps[-1]


def predict(estimator: Any, model_input: Any) -> Predictions:
    """Predict and convert to JSON-ready Python values (see ``predict_arrays``)."""
    labels, proba, one_pass = predict_arrays(estimator, model_input)
    return Predictions(
        labels.tolist(), proba.tolist() if proba is not None else None, one_pass=one_pass
    )


# The methods a classifier's ``predict`` and ``predict_proba`` both call on the same input to get
# its scores: ``predict_proba`` (forests, trees, soft voting, calibrated models build ``predict``
# on it), ``decision_function`` (linear models, gradient boosting) and ``_raw_predict``
# (scikit-learn's histogram gradient boosting calls it directly). Method names, not class names:
# any estimator that has one shares it; one that has none pays its own passes.
SHARED_SCORE_METHODS = ("predict_proba", "decision_function", "_raw_predict")


def _sharing_copy(final: Any, data: Any, reused: list[str]) -> Any:
    """A shallow copy of ``final`` whose score methods, called on ``data`` itself with no other
    argument, compute once and answer later calls with a copy of that first answer.

    The copy's methods are the class's own, bound to the copy, so ``predict`` and
    ``predict_proba`` run their own code and their calls to one another reach the shared pass.
    A call on any other input, or with other arguments, runs as usual.
    """
    shadow = object.__new__(type(final))
    shadow.__dict__.update(final.__dict__)
    for name in SHARED_SCORE_METHODS:
        method = getattr(type(final), name, None)
        # only a method this estimator has (scikit-learn hides some, e.g. an SVC's
        # predict_proba without probability=True, and code may ask hasattr)
        if callable(method) and hasattr(final, name):
            shadow.__dict__[name] = _shared(name, method.__get__(shadow), data, reused)
    return shadow


def _shared(name: str, method: Any, data: Any, reused: list[str]) -> Any:
    first: list[Any] = []

    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        if x is not data or args or kwargs:
            return method(x, *args, **kwargs)
        if first:
            reused.append(name)
            return first[0].copy()  # a copy: the caller may write into what it is given
        answer = method(x)
        if isinstance(answer, np.ndarray):
            first.append(answer.copy())
        return answer

    return call


def predict_arrays(estimator: Any, model_input: Any) -> tuple[Any, Any, bool]:
    """Labels (always ``predict``'s own), probabilities (classifiers) as arrays, and whether
    ``predict`` shared a pass with ``predict_proba``.

    The pipeline's transforms run once for both answers. For a classifier, ``predict_proba`` runs
    first, then ``predict``, both on a copy of the final estimator whose score methods
    (``SHARED_SCORE_METHODS``) compute once for this input: when ``predict`` is built on
    ``predict_proba`` (forests) or on the same scores (gradient boosting, linear models), the
    labels cost no second pass, and they are still what ``predict``'s own code decides from those
    scores: never an arg-max of the probabilities assumed from the class (an ``SGDClassifier``'s
    ``predict`` and its ``predict_proba`` disagree on some rows). An estimator whose ``predict``
    uses none of these methods (an ``SVC``) computes its own answer.
    """
    if isinstance(estimator, CompiledModel):
        return estimator.answer(model_input)
    transforms, final = _split(estimator)
    data = model_input
    for transform in transforms:
        data = transform.transform(data)
    if not hasattr(final, "predict_proba"):
        return np.asarray(final.predict(data)), None, False
    reused: list[str] = []
    shadow = _sharing_copy(final, data, reused)
    proba = np.asarray(shadow.predict_proba(data))
    labels = np.asarray(shadow.predict(data))
    return labels, proba, bool(reused)


MODEL_REFUSALS = (ValueError, TypeError)  # what a scikit-learn model raises for input it refuses
MAX_REFUSAL_TEXT = 200


def _subset(check: RowCheck, positions: range) -> RowCheck:
    """The rows of ``check`` at ``positions`` (indexes into its valid rows)."""
    columns = {
        name: (values[positions.start : positions.stop]) for name, values in check.columns.items()
    }
    return RowCheck(
        valid_rows=check.valid_rows[positions.start : positions.stop],
        columns=columns,
        matrix=check.matrix[positions.start : positions.stop],
    )


def _blame(schema: ModelSchema, check: RowCheck, message: str) -> str | None:
    """The field a one-row refusal is about: one the model names, else the row's null field."""
    named = [f.name for f in schema.features if schema.named and f"'{f.name}'" in message]
    if named:
        return named[0]
    row = (
        {n: v[0] for n, v in check.columns.items()}
        if schema.named
        else {f"x{i}": v for i, v in enumerate(check.matrix[0])}
    )
    return next((name for name, value in row.items() if is_missing(value)), None)


def predict_attributed(
    estimator: Any, schema: ModelSchema, check: RowCheck, first_row: int = 0
) -> tuple[dict[int, int], Predictions, list[Problem]]:
    """Predict the valid rows of a check; rows the model itself refuses become problems.

    Where the schema could not tell whether a value is accepted it let it through; if the model
    raises, the rows are halved until each refused row is found (a few extra calls per refused
    row), and the others are still predicted. Returns where each predicted row (its index in
    the checked rows) is in the predictions, the predictions, and the refused rows' problems.
    """
    if not check.valid_rows:
        return {}, Predictions([], None), []
    try:
        result = predict(estimator, model_input(estimator, schema, check))
    except MODEL_REFUSALS as err:
        if len(check.valid_rows) == 1:
            text = f"{type(err).__name__}: {err}"[:MAX_REFUSAL_TEXT]
            index = first_row + check.valid_rows[0]
            problem = Problem(
                index, _blame(schema, check, str(err)), f"the model refused it: {text}"
            )
            return {}, Predictions([], None), [problem]
        half = len(check.valid_rows) // 2
        parts = [
            predict_attributed(estimator, schema, _subset(check, r), first_row)
            for r in (range(0, half), range(half, len(check.valid_rows)))
        ]
        where: dict[int, int] = {}
        labels: list[Any] = []
        probabilities: list[list[float]] = []
        has_probabilities = False
        problems: list[Problem] = []
        for part_where, part, part_problems in parts:
            for row, at in part_where.items():
                where[row] = len(labels) + at
            labels.extend(part.predictions)
            if part.probabilities is not None:
                has_probabilities = True
                probabilities.extend(part.probabilities)
            problems.extend(part_problems)
        merged = Predictions(labels, probabilities if has_probabilities else None)
        return where, merged, problems
    return {row: at for at, row in enumerate(check.valid_rows)}, result, []


def invalid_input(
    schema: ModelSchema, message: str, problems: Sequence[Problem] = ()
) -> dict[str, Any]:
    """The structured error answer for bad input (not a function error)."""
    return {
        contract.ANSWER_ERROR: {
            contract.ERROR_TYPE: contract.INVALID_INPUT,
            contract.ERROR_MESSAGE: message,
            contract.ERROR_DETAILS: [p.as_dict() for p in problems[:MAX_DETAILS]],
            contract.ERROR_DETAILS_TRUNCATED: len(problems) > MAX_DETAILS,
            contract.ERROR_EXPECTED_FEATURES: (
                schema.feature_names if schema.named else len(schema.features)
            ),
        }
    }


def checked_columns(schema: ModelSchema, check: RowCheck) -> dict[str, Any]:
    """The valid rows' values by feature name (by position for a model fitted without names)."""
    if schema.named:
        return check.columns
    if not check.matrix:
        return {spec.name: np.empty(0) for spec in schema.features}
    matrix = np.asarray(check.matrix, dtype=float)
    return {spec.name: matrix[:, i] for i, spec in enumerate(schema.features)}


def predict_request(
    estimator: Any,
    schema: ModelSchema,
    instances: Any,
    max_rows: int,
    seen: Seen | None = None,
) -> dict[str, Any]:
    """Realtime request: every row must be valid, or the whole request gets one error answer.
    ``seen`` is shown the rows of a request that was answered (all valid), by column."""
    if not isinstance(instances, list):
        return invalid_input(
            schema,
            f"'instances' must be a list of rows, got {_type_name(instances)}",
            [Problem(None, contract.EVENT_REALTIME, "not a list")],
        )
    if not instances:
        return invalid_input(
            schema,
            "'instances' is empty: send at least one row",
            [Problem(None, contract.EVENT_REALTIME, "empty")],
        )
    if len(instances) > max_rows:
        return invalid_input(
            schema,
            f"{len(instances)} rows is over MAX_ROWS={max_rows} for a realtime request; "
            "send fewer rows, or send them as a batch (run-batch)",
            [Problem(None, contract.EVENT_REALTIME, f"over {max_rows} rows")],
        )
    check = check_rows(schema, instances)
    problems = check.problems
    if not problems:
        _, result, problems = predict_attributed(estimator, schema, check)
    if problems:
        bad = len({p.row for p in problems})
        return invalid_input(
            schema,
            f"{bad} of {len(instances)} rows are invalid; fix them and resend",
            problems,
        )
    if seen is not None:
        seen(checked_columns(schema, check), len(check.valid_rows))
    answer: dict[str, Any] = {contract.ANSWER_PREDICTIONS: result.predictions}
    if result.probabilities is not None:
        answer[contract.ANSWER_PROBABILITIES] = result.probabilities
        answer[contract.ANSWER_CLASSES] = list(schema.classes or ())
    return answer


def predict_records(
    estimator: Any,
    schema: ModelSchema,
    rows: Sequence[Any],
    first_row: int = 0,
    seen: Seen | None = None,
) -> list[dict[str, Any]]:
    """Batch rows: one record per input row, in order; invalid rows become error records.
    ``seen`` is shown the valid rows, by column."""
    check = check_rows(schema, rows, first_row)
    if seen is not None:
        seen(checked_columns(schema, check), len(check.valid_rows))
    where, result, refused = predict_attributed(estimator, schema, check, first_row)
    records: list[dict[str, Any]] = [{contract.RESULT_ROW: first_row + i} for i in range(len(rows))]
    for p in [*check.problems, *refused]:
        record = records[(p.row if p.row is not None else first_row) - first_row]
        errors = record.setdefault(
            contract.ANSWER_ERROR,
            {contract.ERROR_TYPE: contract.INVALID_INPUT, contract.ERROR_DETAILS: []},
        )
        errors[contract.ERROR_DETAILS].append(
            {contract.DETAIL_FIELD: p.field, contract.DETAIL_PROBLEM: p.problem}
        )
    probs = result.probabilities
    for i, j in where.items():
        records[i][contract.RESULT_PREDICTION] = result.predictions[j]
        if probs is not None:
            records[i][contract.ANSWER_PROBABILITIES] = probs[j]
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
