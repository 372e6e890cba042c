"""Validation follows the model: a table of model kinds, each served exactly as model.predict.

What each feature accepts is read from scikit-learn's own API (tags, learned categories,
imputers), so a model that handles missing values natively gets its nulls predicted, and an
invalid row gets a per-row error naming its field. The same table runs through the deployed
function in tests/integration/test_model_kinds_served.py.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from reintento_function.inference_core import (
    check_rows,
    describe_model,
    predict,
    predict_arrays,
    predict_records,
    predict_request,
    to_model_input,
)
from tests.model_kinds import ModelKind, disagreeing_rows, model_kinds

KINDS = model_kinds()
LAMBDA = Path(__file__).resolve().parents[2] / "lambda" / "reintento_function"


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_valid_rows_get_exactly_model_predict(kind: ModelKind) -> None:
    # GIVEN a fitted model of this kind and the rows a client sends (nulls where it takes them)
    schema = describe_model(kind.model)
    # WHEN they are predicted as a realtime request and as a batch slice
    answer = predict_request(kind.model, schema, kind.valid, max_rows=len(kind.valid))
    records = predict_records(kind.model, schema, kind.valid)
    # THEN every row gets exactly model.predict's answer (and predict_proba's, for classifiers)
    expected = kind.model.predict(kind.frame(kind.valid)).tolist()
    assert "error" not in answer, answer.get("error")
    assert answer["predictions"] == expected
    assert [r.get("prediction") for r in records] == expected
    if hasattr(kind.model, "predict_proba"):
        np.testing.assert_allclose(
            answer["probabilities"], kind.model.predict_proba(kind.frame(kind.valid))
        )


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_invalid_rows_get_an_error_naming_the_field(kind: ModelKind) -> None:
    # GIVEN valid rows with invalid ones in between
    schema = describe_model(kind.model)
    rows = [kind.valid[0]]
    for bad, _ in kind.invalid:
        rows += [bad, kind.valid[1]]
    # WHEN sent as a batch slice and as a realtime request
    records = predict_records(kind.model, schema, rows)
    answer = predict_request(kind.model, schema, rows, max_rows=len(rows))
    # THEN each invalid row is an error record naming the field; the valid ones are predicted
    for n, (_, field) in enumerate(kind.invalid):
        record = records[1 + 2 * n]
        assert record["error"]["type"] == "InvalidInput"
        assert field in [d["field"] for d in record["error"]["details"]], record
    valid = [r for i, r in enumerate(records) if i == 0 or i % 2 == 0]
    expected = kind.model.predict(kind.frame([rows[i] for i in range(0, len(rows), 2)])).tolist()
    assert [r["prediction"] for r in valid] == expected
    assert {d["row"] for d in answer["error"]["details"]} == set(range(1, len(rows), 2))


def test_native_missing_values_are_accepted_and_predicted() -> None:
    # GIVEN the case: a HistGradientBoostingRegressor fitted on data with missing values
    kind = next(k for k in KINDS if "histogram gradient boosting regressor" in k.name)
    schema = describe_model(kind.model)
    # THEN its features are nullable, and rows with nulls are predicted as model.predict does
    assert all(f.nullable for f in schema.features)
    assert kind.nullable_rows >= 10
    answer = predict_request(kind.model, schema, kind.valid, max_rows=len(kind.valid))
    assert answer["predictions"] == kind.model.predict(kind.frame(kind.valid)).tolist()


def test_what_each_feature_accepts_is_read_from_the_model() -> None:
    by_name = {k.name: describe_model(k.model) for k in KINDS}
    strict = {f.name: f for f in by_name[KINDS[5].name].features}
    # a one-hot encoder refusing unknowns: its categories; ordinal with unknowns encoded: any
    assert strict["city"].kind == "categorical"
    assert strict["city"].categories == ("bogota", "lima", "quito")
    assert not strict["city"].nullable
    assert strict["plan"].kind == "categorical" and strict["plan"].categories is None
    # an imputer in front of a column makes it nullable
    imputed = {f.name: f for f in by_name[KINDS[4].name].features}
    assert imputed["age"].nullable and imputed["city"].nullable and imputed["age"].kind == "numeric"
    # missing learned as a category: nullable, and null is not listed as a category
    learned = {f.name: f for f in by_name[KINDS[6].name].features}
    assert learned["plan"].nullable and learned["plan"].categories == ("basic", "pro", "team")
    # a linear model refuses NaN: its features are not nullable
    assert not any(f.nullable for f in by_name[KINDS[0].name].features)


def test_predict_is_used_where_predict_proba_disagrees() -> None:
    # GIVEN a model whose predict is not the arg-max of predict_proba on some rows
    kind = next(k for k in KINDS if k.name.startswith("SGD"))
    assert disagreeing_rows(kind) > 0
    schema = describe_model(kind.model)
    # WHEN predicted  THEN the labels are predict's, not an assumed arg-max, although predict
    # and predict_proba shared one decision_function pass
    result = predict(kind.model, to_model_input(schema, check_rows(schema, kind.valid)))
    assert result.predictions == kind.model.predict(kind.frame(kind.valid)).tolist()
    assert result.one_pass


def test_one_pass_where_predict_is_built_on_predict_proba() -> None:
    # GIVEN a forest, whose predict() is computed from predict_proba()
    kind = next(k for k in KINDS if k.name.startswith("random forest"))
    schema = describe_model(kind.model)
    # THEN the labels come from the same predict_proba pass, and equal predict's
    result = predict(kind.model, to_model_input(schema, check_rows(schema, kind.valid)))
    assert result.one_pass
    assert result.predictions == kind.model.predict(kind.frame(kind.valid)).tolist()


class _ScoringClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A classifier whose predict and predict_proba both call decision_function; predict_proba
    writes into the scores it is given, and its arg-max is the opposite of predict's."""

    calls = 0

    def fit(self, x: Any, y: Any) -> _ScoringClassifier:
        self.classes_ = np.unique(y)
        self.weights_ = np.arange(len(self.classes_), dtype=float)
        return self

    def decision_function(self, x: Any) -> Any:
        type(self).calls += 1
        return np.asarray(x, dtype=float)[:, :1] * self.weights_

    def predict(self, x: Any) -> Any:
        return self.classes_[np.argmax(self.decision_function(x), axis=1)]

    def predict_proba(self, x: Any) -> Any:
        scores = self.decision_function(x)
        scores *= -1.0  # in place: what it was given must not be what predict later reads
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)


def test_predict_and_predict_proba_share_one_scoring_pass_and_labels_stay_predicts() -> None:
    # GIVEN a classifier whose predict and predict_proba each score the rows, and disagree
    x = np.array([[1.0], [2.0], [-3.0]])
    model = _ScoringClassifier().fit(x, [0, 1, 2])
    expected_labels, expected_proba = model.predict(x), model.predict_proba(x)
    assert (expected_labels != expected_proba.argmax(axis=1)).any()
    _ScoringClassifier.calls = 0
    # WHEN predicted
    labels, proba, one_pass = predict_arrays(model, x)
    # THEN the rows were scored once, and the answers are each method's own
    assert _ScoringClassifier.calls == 1
    assert one_pass
    assert labels.tolist() == expected_labels.tolist()
    assert np.array_equal(proba, expected_proba)


def test_gradient_boosting_scores_its_rows_once_for_labels_and_probabilities() -> None:
    # GIVEN the histogram gradient boosting kind (the demo model's estimator)
    kind = next(k for k in KINDS if k.name.endswith(", gradient boosting"))
    schema = describe_model(kind.model)
    model_input = to_model_input(schema, check_rows(schema, kind.valid))
    final = kind.model[-1]
    calls: list[int] = []
    original = type(final)._raw_predict

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    # WHEN predicted (the class's scoring method counted, nothing else changed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(final), "_raw_predict", counting)
        labels, proba, one_pass = predict_arrays(kind.model, model_input)
    # THEN one scoring pass, and exactly predict's and predict_proba's answers
    assert len(calls) == 1 and one_pass
    frame = kind.frame(kind.valid)
    assert labels.tolist() == kind.model.predict(frame).tolist()
    assert np.array_equal(proba, kind.model.predict_proba(frame))


def test_no_list_of_class_names_decides_validation_or_prediction() -> None:
    # GIVEN the function's code  THEN no set/list/tuple of scikit-learn class names is in it
    tree = ast.parse((LAMBDA / "inference_core.py").read_text())
    literals = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Set | ast.List | ast.Tuple)
        and any(
            isinstance(e, ast.Constant)
            and isinstance(e.value, str)
            and e.value.endswith(("Classifier", "Regressor", "Encoder", "Scaler", "Imputer"))
            for e in node.elts
        )
    ]
    assert literals == []
    source = (LAMBDA / "inference_core.py").read_text()
    assert ".__name__ in" not in source and ".__name__ ==" not in source
