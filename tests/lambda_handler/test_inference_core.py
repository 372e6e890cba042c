"""The pure inference core: schema from the model, validation, predictions equal to the model's."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from reintento_function.inference_core import (
    MAX_STRING_LENGTH,
    describe_model,
    loads_strict,
    predict_records,
    predict_request,
)


def test_schema_is_read_from_the_pipeline(demo_estimator: Any) -> None:
    # GIVEN the demo pipeline  WHEN its schema is read
    schema = describe_model(demo_estimator)
    kinds = {f.name: f.kind for f in schema.features}
    # THEN numeric and one-hot columns are told apart, with the known categories
    assert kinds["latencia_ms"] == "numeric"
    assert kinds["tipo_error"] == "categorical"
    region = next(f for f in schema.features if f.name == "region")
    assert region.categories == ("eu-west-1", "sa-east-1", "us-east-1")
    assert schema.classes == (0, 1)


def test_predictions_equal_model_predict_on_1000_rows(
    demo_estimator: Any, rows_1000: list[dict[str, Any]]
) -> None:
    # GIVEN 1,000 rows as a client sends them
    schema = describe_model(demo_estimator)
    # WHEN the core predicts them
    answer = predict_request(demo_estimator, schema, rows_1000, max_rows=1000)
    # THEN labels and probabilities equal the model's own, in order
    frame = pd.DataFrame(rows_1000)
    assert answer["predictions"] == demo_estimator.predict(frame).tolist()
    np.testing.assert_allclose(answer["probabilities"], demo_estimator.predict_proba(frame))
    assert answer["classes"] == [0, 1]


def test_plain_estimator_without_feature_names() -> None:
    # GIVEN a classifier fitted on a bare array
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    schema = describe_model(model)
    # WHEN lists of numbers are sent
    answer = predict_request(model, schema, x[:5].tolist(), max_rows=10)
    # THEN they are predicted like model.predict, and dict rows are refused
    assert answer["predictions"] == model.predict(x[:5]).tolist()
    refused = predict_request(model, schema, [{"a": 1}], max_rows=10)
    assert refused["error"]["type"] == "InvalidInput"
    wrong_len = predict_request(model, schema, [[1.0, 2.0]], max_rows=10)
    assert "expected 3 values" in wrong_len["error"]["details"][0]["problem"]


def _one(
    row_change: dict[str, Any], base: dict[str, Any], drop: str | None = None
) -> dict[str, Any]:
    row = dict(base, **row_change)
    if drop:
        row.pop(drop)
    return row


BAD_ROWS = [
    ("missing feature", {}, "latencia_ms", "latencia_ms", "missing"),
    ("extra feature", {"color": "rojo"}, None, "color", "unexpected feature"),
    (
        "string for number",
        {"latencia_ms": "12"},
        None,
        "latencia_ms",
        "expected a number, got string",
    ),
    ("boolean for number", {"intentos_previos": True}, None, "intentos_previos", "got boolean"),
    ("NaN", {"carga_servidor": math.nan}, None, "carga_servidor", "not a finite number"),
    ("Infinity", {"carga_servidor": math.inf}, None, "carga_servidor", "not a finite number"),
    ("null category", {"region": None}, None, "region", "null is not allowed"),
    ("unknown category", {"region": "mars-1"}, None, "region", "unknown category"),
    ("number for category", {"servicio": 3}, None, "servicio", "expected a string"),
    ("object value", {"servicio": {"a": 1}}, None, "servicio", "got object"),
    ("huge string", {"servicio": "x" * (MAX_STRING_LENGTH + 1)}, None, "servicio", "too long"),
]


@pytest.mark.parametrize(("case", "change", "drop", "field", "problem"), BAD_ROWS)
def test_each_bad_row_gets_a_structured_error(
    demo_estimator: Any,
    rows_1000: list[dict[str, Any]],
    case: str,
    change: dict[str, Any],
    drop: str | None,
    field: str,
    problem: str,
) -> None:
    # GIVEN a good row and a bad one
    schema = describe_model(demo_estimator)
    rows = [rows_1000[0], _one(change, rows_1000[1], drop)]
    # WHEN they are sent together
    answer = predict_request(demo_estimator, schema, rows, max_rows=10)
    # THEN the answer is an InvalidInput error naming row 1, the field and the problem
    error = answer["error"]
    assert error["type"] == "InvalidInput"
    assert {"row": 1, "field": field} == {k: error["details"][0][k] for k in ("row", "field")}
    assert problem in error["details"][0]["problem"]
    assert error["expected_features"] == schema.feature_names


@pytest.mark.parametrize(
    ("instances", "problem"),
    [([], "empty"), ({"a": 1}, "not a list"), ("rows", "not a list"), ([{}] * 11, "over 10 rows")],
)
def test_request_shape_errors(demo_estimator: Any, instances: Any, problem: str) -> None:
    schema = describe_model(demo_estimator)
    answer = predict_request(demo_estimator, schema, instances, max_rows=10)
    assert answer["error"]["details"][0] == {"row": None, "field": "instances", "problem": problem}


def test_batch_records_keep_every_row_in_order(
    demo_estimator: Any, rows_1000: list[dict[str, Any]]
) -> None:
    # GIVEN 20 rows of which 3 are invalid
    schema = describe_model(demo_estimator)
    rows: list[Any] = list(rows_1000[:20])
    rows[2] = _one({"region": "mars-1"}, rows[2])
    rows[7] = "not a row"
    rows[19] = _one({}, rows[19], drop="servicio")
    # WHEN predicted as a batch slice starting at row 100
    records = predict_records(demo_estimator, schema, rows, first_row=100)
    # THEN one record per row, in order; invalid rows are errors, valid rows equal model.predict
    assert [r["row"] for r in records] == list(range(100, 120))
    assert [i for i, r in enumerate(records) if "error" in r] == [2, 7, 19]
    valid = [rows[i] for i in range(20) if i not in (2, 7, 19)]
    expected = demo_estimator.predict(pd.DataFrame(valid)).tolist()
    assert [r["prediction"] for r in records if "error" not in r] == expected


def test_loads_strict_refuses_duplicate_keys() -> None:
    assert loads_strict('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError, match="duplicate key 'a'"):
        loads_strict('{"a": 1, "a": 2}')
