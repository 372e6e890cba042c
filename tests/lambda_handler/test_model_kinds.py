"""Validation follows the model: a table of model kinds, each served exactly as model.predict.

What each feature accepts is read from scikit-learn's own API (tags, learned categories,
imputers), so a model that handles missing values natively gets its nulls predicted, and an
invalid row gets a per-row error naming its field. The same table runs through the deployed
function in tests/integration/test_model_kinds_served.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tests.model_kinds import ModelKind, disagreeing_rows, model_kinds

from inference_core import (
    check_rows,
    describe_model,
    predict,
    predict_records,
    predict_request,
    to_model_input,
)

KINDS = model_kinds()
LAMBDA = Path(__file__).resolve().parents[2] / "lambda"


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
    # WHEN predicted  THEN the labels are predict's, not an assumed arg-max
    result = predict(kind.model, to_model_input(schema, check_rows(schema, kind.valid)))
    assert result.predictions == kind.model.predict(kind.frame(kind.valid)).tolist()
    assert not result.one_pass


def test_one_pass_where_predict_is_built_on_predict_proba() -> None:
    # GIVEN a forest, whose predict() is computed from predict_proba()
    kind = next(k for k in KINDS if k.name.startswith("random forest"))
    schema = describe_model(kind.model)
    # THEN the labels come from the same predict_proba pass, and equal predict's
    result = predict(kind.model, to_model_input(schema, check_rows(schema, kind.valid)))
    assert result.one_pass
    assert result.predictions == kind.model.predict(kind.frame(kind.valid)).tolist()


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
