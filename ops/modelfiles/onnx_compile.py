"""Compile a fitted scikit-learn model to ONNX that computes what it computes, in float64.

Written here rather than taken from a converter: skl2onnx's trees compare in float32 and its
tree converters emit opset-1 operators whose scores are float32, so labels near a threshold
differ. What compiles: pipelines and column transformers of ``StandardScaler``,
``SimpleImputer``, ``OneHotEncoder`` and ``OrdinalEncoder`` (``passthrough`` and ``drop``
columns, and a fitted column transformer's identity ``FunctionTransformer``), ending in
``LogisticRegression``, ``LinearRegression``/``Ridge``, ``DecisionTree*``, ``RandomForest*``
or ``HistGradientBoosting*`` (numeric splits). Anything else raises ``NotCompiledError`` naming
the step; the pickle is then served. Whether a compiled model answers exactly as the model does
is not assumed: ``ops.modelfiles.engine`` runs both on the verification rows and decides (and
``order_sensitive`` says which models' sums cannot be reproduced in scikit-learn's order).
Rows the model refuses (a value its trees cannot hold in float32, a NaN or infinity its linear
model does not take, a category an encoder with ``handle_unknown="error"`` does not know) are
flagged in the ``refused`` output, and the engine refuses them too. A categorical feature is fed
as codes (``onnx_engine.CATEGORIES_METADATA``), so the graph compares integers, not strings.

Each operation is the one scikit-learn performs: a scaler subtracts its mean and divides by its
scale (not a multiplication by the reciprocal); a decision tree compares the float32 value of
its input, as scikit-learn casts it; the link functions are applied to the same sums.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ops.modelfiles.onnx_graph import BOOL, DOUBLE, FLOAT, INT64, Graph, tensor_type
from ops.modelfiles.onnx_trees import (
    NotCompiledError,
    boosting_trees,
    ensemble,
    sklearn_trees,
)
from reintento_function.inference_core import (
    column_selection,
    fitted_input,
    flatten_steps,
    is_missing,
)
from reintento_function.onnx_engine import (
    CATEGORIES_METADATA,
    LABEL_OUTPUT,
    MATRIX_INPUT,
    NULL_CODE,
    NULL_SUFFIX,
    PROBABILITIES_OUTPUT,
    REFUSED_OUTPUT,
)

__all__ = ["NotCompiledError", "compile_model", "order_sensitive"]


class CodeTable:
    """A categorical input's categories in code order, grown as its encoders and imputers ask
    for them; the function sends each string as its code (``onnx_engine.input_columns``)."""

    def __init__(self) -> None:
        self.order: dict[str, int] = {}

    def code(self, category: str) -> int:
        return self.order.setdefault(category, len(self.order))


@dataclass(frozen=True)
class Column:
    """One column on its way through the steps: its tensor (``[N, 1]``), and for a categorical
    one its codes' table (the tensor is then int64 codes; a null is ``NULL_CODE``, which no
    string a client sends can become)."""

    tensor: str
    codes: CodeTable | None = None

    @property
    def text(self) -> bool:
        return self.codes is not None


def _side_by_side(graph: Graph, parts: list[str]) -> str:
    """``[N, k]`` matrices as one, in order (a single one as it is)."""
    return parts[0] if len(parts) == 1 else graph.op("Concat", parts, axis=1)


def _matrix(graph: Graph, columns: list[Column] | str) -> str:
    """The columns as one ``[N, k]`` double matrix (numbers only)."""
    if isinstance(columns, str):
        return columns
    if any(c.text for c in columns):
        raise NotCompiledError("a text column reaches a numeric step without an encoder")
    return _side_by_side(graph, [c.tensor for c in columns])


def _columns(graph: Graph, value: list[Column] | str, width: int) -> list[Column]:
    if not isinstance(value, str):
        return value
    return [
        Column(
            graph.op("Slice", [value, graph.const([i]), graph.const([i + 1]), graph.const([1])]),
        )
        for i in range(width)
    ]


def _scaler(graph: Graph, step: Any, value: list[Column] | str) -> str:
    x = _matrix(graph, value)
    if step.with_mean and step.mean_ is not None:
        x = graph.op("Sub", [x, graph.const(step.mean_.reshape(1, -1), "mean")])
    if step.with_std and step.scale_ is not None:
        x = graph.op("Div", [x, graph.const(step.scale_.reshape(1, -1), "scale")])
    return x


def _missing_mask(graph: Graph, column: Column) -> str:
    if column.text:
        return graph.op("Equal", [column.tensor, graph.const([[NULL_CODE]], "null")])
    return graph.op("IsNaN", [column.tensor])


def _imputer(graph: Graph, step: Any, value: list[Column] | str, width: int) -> list[Column]:
    if step.add_indicator or not is_missing(step.missing_values):
        raise NotCompiledError("an imputer with an indicator, or of a value other than null")
    fill = list(step.statistics_)
    if any(is_missing(f) for f in fill) or len(fill) != width:
        raise NotCompiledError("an imputer that learned no value for a column (all missing)")
    out = []
    for column, value_ in zip(_columns(graph, value, width), fill, strict=True):
        if column.text != isinstance(value_, str):
            raise NotCompiledError("an imputer whose fill value is not of its column's type")
        filled = graph.const(
            [[column.codes.code(value_) if column.codes is not None else float(value_)]], "fill"
        )
        mask = _missing_mask(graph, column)
        # imputed: no null is left (a coded column's nulls became the fill value's code)
        out.append(Column(graph.op("Where", [mask, filled, column.tensor]), column.codes))
    return out


def _matches(graph: Graph, column: Column, categories: Any) -> str:
    """``[N, C]`` double: 1 where the column equals each category (missing: null's category)."""
    known = [c for c in categories if not is_missing(c)]
    if column.text != all(isinstance(c, str) for c in known) and known:
        raise NotCompiledError("an encoder whose categories are not of its column's type")
    if column.codes is not None:  # one comparison of the codes with every category's code
        table = column.codes
        codes = [[NULL_CODE if is_missing(c) else table.code(c) for c in categories]]
        return graph.op("Cast", [graph.op("Equal", [column.tensor, graph.const(codes)])], to=DOUBLE)
    parts = []
    for category in categories:
        if is_missing(category):
            parts.append(graph.op("Cast", [_missing_mask(graph, column)], to=DOUBLE))
            continue
        const = graph.const([[category if column.text else float(category)]], "category")
        parts.append(graph.op("Cast", [graph.op("Equal", [column.tensor, const])], to=DOUBLE))
    return _side_by_side(graph, parts)


def _encoder_checks(step: Any) -> None:
    if getattr(step, "drop_idx_", None) is not None:
        raise NotCompiledError("a one-hot encoder that drops a category")
    infrequent = getattr(step, "infrequent_categories_", None) or []
    if any(i is not None for i in infrequent):
        raise NotCompiledError("an encoder with infrequent categories")


def _matched(graph: Graph, matches: str) -> str:
    """``[N, 1]`` bool: whether a row of ``matches`` (``[N, C]``, 1 at each match) has a 1."""
    best = graph.op("ReduceMax", [matches, graph.const([1])], keepdims=1)
    return graph.op("Greater", [best, graph.const([[0.0]])])


def _refuses_unknowns(step: Any) -> bool:
    """A strict encoder (``handle_unknown="error"``) raises for a value none of its categories
    matches; the row check lets one through only when another encoder of the column takes it,
    so the compiled model refuses those rows (``graph.refusals``)."""
    return bool(step.handle_unknown == "error")


def _one_hot(graph: Graph, step: Any, value: list[Column] | str, width: int) -> str:
    _encoder_checks(step)
    columns = _columns(graph, value, width)
    parts = [_matches(graph, c, cats) for c, cats in zip(columns, step.categories_, strict=True)]
    if _refuses_unknowns(step):
        graph.refusals += [graph.op("Not", [_matched(graph, part)]) for part in parts]
    return _side_by_side(graph, parts)


def _ordinal(graph: Graph, step: Any, value: list[Column] | str, width: int) -> str:
    _encoder_checks(step)
    if step.handle_unknown != "use_encoded_value":
        unknown = float("nan")  # never reached: the function refuses an unknown category
    else:
        unknown = float(step.unknown_value)
    parts = []
    for column, cats in zip(_columns(graph, value, width), step.categories_, strict=True):
        seen = [c for c in cats if not is_missing(c)]
        eq = _matches(graph, column, seen)
        index = graph.op("MatMul", [eq, graph.const(np.arange(len(seen)).reshape(-1, 1) * 1.0)])
        known = _matched(graph, eq)
        # missing was learned: a null is encoded as told (and never refused)
        null = _missing_mask(graph, column) if len(seen) != len(cats) else None
        if _refuses_unknowns(step):
            refused = graph.op("Not", [known])
            if null is not None:
                refused = graph.op("And", [refused, graph.op("Not", [null])])
            graph.refusals.append(refused)
        code = graph.op("Where", [known, index, graph.const([[unknown]])])
        if null is not None:
            missing = graph.const([[float(step.encoded_missing_value)]])
            code = graph.op("Where", [null, missing, code])
        parts.append(code)
    return _side_by_side(graph, parts)


def _width(step: Any, width: int) -> int:
    if isinstance(step, OneHotEncoder):
        return sum(len(c) for c in step.categories_)
    return width


def _identity(step: Any) -> bool:
    """``passthrough``, or what a fitted ColumnTransformer makes of it (a FunctionTransformer
    without a function)."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return True
    return isinstance(step, FunctionTransformer) and step.func is None


def transform(
    graph: Graph, steps: list[Any], value: list[Column] | str, width: int
) -> tuple[list[Column] | str, int]:
    """Run ``value`` (columns, or a matrix of ``width``) through preprocessing ``steps``."""
    for step in steps:
        if _identity(step):
            continue
        if isinstance(step, ColumnTransformer):
            value, width = _column_transformer(graph, step, value)
            continue
        if isinstance(step, StandardScaler):
            value = _scaler(graph, step, value)
        elif isinstance(step, SimpleImputer):
            value = _imputer(graph, step, value, width)
        elif isinstance(step, OneHotEncoder):
            value = _one_hot(graph, step, value, width)
        elif isinstance(step, OrdinalEncoder):
            value = _ordinal(graph, step, value, width)
        else:
            raise NotCompiledError(f"no exact conversion for {type(step).__name__}")
        width = _width(step, width)
    return value, width


def _column_transformer(graph: Graph, step: Any, value: list[Column] | str) -> tuple[str, int]:
    """The transformer's branches side by side: a matrix and its width."""
    if isinstance(value, str) or not hasattr(step, "feature_names_in_"):
        raise NotCompiledError("a column transformer fitted without column names")
    names = [str(n) for n in step.feature_names_in_]
    by_name = dict(zip(names, value, strict=True))
    parts, width = [], 0
    for _, inner, selection in step.transformers_:
        if isinstance(inner, str) and inner == "drop":
            continue
        selected = column_selection(selection, names)
        if not selected:
            continue
        branch = [inner] if isinstance(inner, str) else flatten_steps(inner)
        out, out_width = transform(graph, branch, [by_name[n] for n in selected], len(selected))
        parts.append(_matrix(graph, out))
        width += out_width
    if not parts:
        raise NotCompiledError("a column transformer that keeps no column")
    return _side_by_side(graph, parts), width


# --------------------------------------------------------------------------- final estimators


def _labels(graph: Graph, model: Any, index: str) -> tuple[str, int]:
    """``classes_[index]`` (index ``[N]`` int64): the classifier's labels."""
    classes = np.asarray(model.classes_)
    if classes.dtype.kind == "b":
        raise NotCompiledError("a classifier with boolean classes")
    element = tensor_type(classes)
    return graph.op("Gather", [graph.const(classes, "classes"), index], axis=0), element


def _argmax(graph: Graph, scores: str) -> str:
    """The first column of each row's largest value (NumPy's ``argmax`` on ties)."""
    return graph.op("ArgMax", [scores], axis=1, keepdims=0, select_last_index=0)


def _binary(graph: Graph, raw: str) -> tuple[str, str]:
    """Two-class probabilities ``[1 - p, p]`` with ``p = expit(raw)``, and ``raw > 0``."""
    p = graph.op("Sigmoid", [raw])
    proba = graph.op("Concat", [graph.op("Sub", [graph.const([[1.0]]), p]), p], axis=1)
    positive = graph.op("Greater", [raw, graph.const([[0.0]])])
    index = graph.op("Cast", [graph.op("Flatten", [positive], axis=0)], to=INT64)
    return proba, graph.op("Reshape", [index, graph.const([-1])])


def _linear_scores(graph: Graph, model: Any, x: str) -> str:
    coef = np.asarray(model.coef_, dtype=np.float64)
    coef = coef.reshape(1, -1) if coef.ndim == 1 else coef
    scores = graph.op("MatMul", [x, graph.const(coef.T, "coef")])
    intercept = np.asarray(model.intercept_, dtype=np.float64).reshape(1, -1)
    return graph.op("Add", [scores, graph.const(intercept, "intercept")])


def _logistic(graph: Graph, model: Any, x: str) -> tuple[str, int, str | None]:
    scores = _linear_scores(graph, model, x)
    if len(model.classes_) == 2:
        proba, index = _binary(graph, scores)
    else:
        proba, index = graph.op("Softmax", [scores], axis=1), _argmax(graph, scores)
    label, element = _labels(graph, model, index)
    return label, element, proba


def _linear_regressor(graph: Graph, model: Any, x: str) -> tuple[str, int, str | None]:
    if np.asarray(model.coef_).ndim != 1:
        raise NotCompiledError("a linear regressor with several targets")
    values = graph.op("Reshape", [_linear_scores(graph, model, x), graph.const([-1])])
    return values, DOUBLE, None


def _float32_view(graph: Graph, x: str) -> str:
    """``x`` as scikit-learn's trees see it: rounded to float32 (then held in a double)."""
    return graph.op("Cast", [graph.op("Cast", [x], to=FLOAT)], to=DOUBLE)


def _forest(graph: Graph, model: Any, x: str) -> tuple[str, int, str | None]:
    trees = getattr(model, "estimators_", [model])
    classifier = hasattr(model, "classes_")
    classes = len(model.classes_) if classifier else None
    summed = ensemble(graph, _float32_view(graph, x), sklearn_trees(trees, classes), classes or 1)
    values = (
        graph.op("Div", [summed, graph.const([[float(len(trees))]])]) if len(trees) > 1 else summed
    )
    if not classifier:
        return graph.op("Reshape", [values, graph.const([-1])]), DOUBLE, None
    label, element = _labels(graph, model, _argmax(graph, values))
    return label, element, values


def _boosting(graph: Graph, model: Any, x: str) -> tuple[str, int, str | None]:
    classifier = hasattr(model, "classes_")
    targets = model.n_trees_per_iteration_
    raw = ensemble(graph, x, boosting_trees(model), targets)
    if not classifier:
        if type(model._loss.link).__name__ != "IdentityLink":
            raise NotCompiledError("gradient boosting with a non-identity link (its loss)")
        return graph.op("Reshape", [raw, graph.const([-1])]), DOUBLE, None
    if targets == 1:
        proba, index = _binary(graph, raw)
    else:
        proba, index = graph.op("Softmax", [raw], axis=1), _argmax(graph, raw)
    label, element = _labels(graph, model, index)
    return label, element, proba


_FINAL = (
    ((LogisticRegression,), _logistic),
    ((LinearRegression, Ridge), _linear_regressor),
    ((DecisionTreeClassifier, DecisionTreeRegressor), _forest),
    ((RandomForestClassifier, RandomForestRegressor), _forest),
    ((HistGradientBoostingClassifier, HistGradientBoostingRegressor), _boosting),
)


def _final(graph: Graph, model: Any, x: str) -> tuple[str, int, str | None]:
    for kinds, convert in _FINAL:
        if type(model) in kinds:
            return convert(graph, model, x)
    raise NotCompiledError(f"no exact conversion for {type(model).__name__}")


# --------------------------------------------------------------------------- the model


def _input(graph: Graph, name: str, text: bool) -> Column:
    if not text:
        return Column(graph.input(name, DOUBLE))
    return Column(graph.input(name, INT64), CodeTable())


def _inputs(graph: Graph, model: Any, text_columns: set[str]) -> tuple[list[Column] | str, int]:
    names, width = fitted_input(model, flatten_steps(model))
    if names is None:
        return graph.input(MATRIX_INPUT, DOUBLE, width), width
    if any(str(n).endswith(NULL_SUFFIX) for n in names):
        raise NotCompiledError("a feature name ends with the compiled model's null suffix")
    return [_input(graph, str(n), str(n) in text_columns) for n in names], len(names)


def _refusals(graph: Graph, model: Any, x: str, sparse: bool) -> str | None:
    """``[N, k]`` bool: the values the final estimator refuses, as scikit-learn checks them: a
    tree casts its input to float32 and refuses what becomes infinite (and NaN, from a sparse
    matrix); a linear model refuses any NaN or infinity. Gradient boosting takes both."""
    if isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return None
    if isinstance(model, DecisionTreeClassifier | DecisionTreeRegressor) or hasattr(
        model, "estimators_"
    ):
        bad = graph.op("IsInf", [graph.op("Cast", [x], to=FLOAT)])
        if sparse:
            bad = graph.op("Or", [bad, graph.op("IsNaN", [x])])
    else:
        bad = graph.op("Or", [graph.op("IsInf", [x]), graph.op("IsNaN", [x])])
    return bad


def _refused_rows(graph: Graph, refusals: list[str]) -> str:
    """``[N]`` bool: the rows any of ``refusals`` (``[N, k]`` bool each) refuses."""
    each = graph.op("Cast", [_side_by_side(graph, refusals)], to=DOUBLE)
    worst = graph.op("ReduceMax", [each, graph.const([1])], keepdims=0)
    return graph.op("Greater", [worst, graph.const([0.0])])


def _sparse(steps: list[Any]) -> bool:
    return any(bool(getattr(step, "sparse_output_", False)) for step in steps)


def compile_model(model: Any, text_columns: set[str]) -> bytes:
    """The ONNX model of a fitted estimator or pipeline; ``text_columns`` are the features
    given as strings. Raises ``NotCompiledError`` (its message: why) when a step has no exact
    conversion here."""
    steps = flatten_steps(model)
    *preprocessing, final = steps
    graph = Graph()
    value_in, width = _inputs(graph, model, text_columns)
    value, width = transform(graph, preprocessing, value_in, width)
    x = _matrix(graph, value)
    label, element, proba = _final(graph, final, x)
    categories = {
        c.tensor: list(c.codes.order)
        for c in (value_in if isinstance(value_in, list) else [])
        if c.codes is not None
    }
    outputs: dict[str, tuple[str, int, list[Any]]] = {LABEL_OUTPUT: (label, element, [None])}
    if proba is not None:
        outputs[PROBABILITIES_OUTPUT] = (proba, DOUBLE, [None, len(final.classes_)])
    # the final estimator's refusals and a strict encoder's
    refusals = [r for r in (_refusals(graph, final, x, _sparse(steps)),) if r is not None]
    if refusals + graph.refusals:
        refused = _refused_rows(graph, refusals + graph.refusals)
        outputs[REFUSED_OUTPUT] = (refused, BOOL, [None])
    return graph.model(outputs, {CATEGORIES_METADATA: json.dumps(categories)})


def order_sensitive(model: Any) -> str | None:
    """Why the compiled model's answers can differ from the model's on rows the verification
    did not see, or None. A linear model's matrix product is added up in onnxruntime's order,
    not NumPy's BLAS's (whose own order changes with the batch size), so a score near zero can
    fall on either side."""
    final = flatten_steps(model)[-1]
    if isinstance(final, LogisticRegression | LinearRegression | Ridge):
        return (
            f"{type(final).__name__}'s sums are added in another order by onnxruntime than by "
            "NumPy, so rows near its decision boundary can differ"
        )
    return None
