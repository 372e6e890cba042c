"""The inference core at its edges: each documented limit's last accepted and first refused
value (written out as numbers, so a limit changed by mistake fails here), and what each kind of
pipeline step makes a column accept. Found by mutation testing (``make mutate``): these are the
changes the other fast tests let through."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from reintento_function import contract
from reintento_function.columnar_slice import predict_frame
from reintento_function.inference_core import (
    _sharing_copy,
    describe_model,
    loads_strict,
    predict_records,
    predict_request,
    schema_from_manifest,
)

LABELS = [0, 1, 0, 1, 0, 1]


def _fit(transformers: list[tuple[str, Any, list[str]]], frame: pd.DataFrame) -> Any:
    columns = ColumnTransformer(transformers, remainder="drop")
    return make_pipeline(columns, LogisticRegression()).fit(frame, LABELS)


def _text_model() -> Any:
    """A number, and a text column whose unknown values are ignored (any string accepted)."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "t": list("ababab")})
    return _fit(
        [("x", "passthrough", ["x"]), ("t", OneHotEncoder(handle_unknown="ignore"), ["t"])],
        frame,
    )


def _problems(answer: dict[str, Any]) -> list[tuple[Any, Any, str]]:
    details = answer[contract.ANSWER_ERROR][contract.ERROR_DETAILS]
    return [
        (d[contract.DETAIL_ROW], d[contract.DETAIL_FIELD], d[contract.DETAIL_PROBLEM])
        for d in details
    ]


def _answer(model: Any, rows: list[Any]) -> dict[str, Any]:
    return predict_request(model, describe_model(model), rows, max_rows=1000)


@pytest.mark.parametrize("path", ["fast", "detailed"])
def test_a_string_of_256_characters_is_accepted_and_one_of_257_refused(path: str) -> None:
    model = _text_model()
    # a row with a problem elsewhere sends the whole request down the detailed check
    other = [{"x": 1.0, "t": "a"}] if path == "fast" else [{"x": "one", "t": "a"}]
    answer = _answer(model, [{"x": 1.0, "t": "y" * 256}, *other])
    if path == "fast":
        assert contract.ANSWER_PREDICTIONS in answer
    else:
        assert [row for row, _, _ in _problems(answer)] == [1]
    refused = _answer(model, [{"x": 1.0, "t": "y" * 257}, *other])
    assert (0, "t", "string too long (257 characters, at most 256)") in _problems(refused)


def test_integers_up_to_2_to_the_53_are_accepted_and_beyond_refused() -> None:
    model = _text_model()
    for value in (2**53, -(2**53)):
        assert contract.ANSWER_PREDICTIONS in _answer(model, [{"x": value, "t": "a"}])
    for value in (2**53 + 1, -(2**53) - 1):
        ((row, field, problem),) = _problems(_answer(model, [{"x": value, "t": "a"}]))
        assert (row, field) == (0, "x") and "outside what a number can hold" in problem


def test_json_nested_32_levels_is_parsed_and_33_refused() -> None:
    assert loads_strict("[" * 32 + "]" * 32) is not None
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        loads_strict("[" * 33 + "]" * 33)
    # over 32 brackets in all: the depth is counted, opening and closing
    assert loads_strict("[" * 31 + "[],[]" + "]" * 31) is not None
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        loads_strict("[" + "[]," * 5 + "[" * 32 + "]" * 32 + "]")
    # brackets inside strings are text, escaped quotes included
    deep_text = '{"a": "' + "[" * 40 + '\\"' + "{" * 40 + '"}'
    assert loads_strict(deep_text) == {"a": "[" * 40 + '"' + "{" * 40}
    assert loads_strict(deep_text.encode()) == {"a": "[" * 40 + '"' + "{" * 40}


def test_json_objects_are_levels_too_and_a_string_ends_at_its_own_quote() -> None:
    assert loads_strict('{"a":' * 32 + "1" + "}" * 32) is not None
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        loads_strict('{"a":' * 33 + "1" + "}" * 33)
    # a string's letters escape nothing: the brackets after its closing quote are counted
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        loads_strict('["a", ' + "[" * 32 + "]" * 32 + "]")


def test_a_manifest_s_schema_keeps_each_feature_s_kind_and_its_null() -> None:
    """The compiled engine validates rows from the manifest: the same kinds as the model's."""
    name, kind, nullable = contract.FEATURE_NAME, contract.FEATURE_KIND, contract.FEATURE_NULLABLE
    manifest = {
        contract.MANIFEST_FEATURES: [
            {name: "x", kind: "numeric", nullable: True},
            {name: "t", kind: "categorical", nullable: True, contract.FEATURE_CATEGORIES: ["a"]},
            {name: "u", kind: "a kind from a newer manifest", nullable: False},
        ],
        contract.MANIFEST_CLASSES: [0, 1],
        contract.MANIFEST_FEATURE_NAMES: ["x", "t", "u"],
    }
    x, t, u = schema_from_manifest(manifest).features
    assert [(f.name, f.kind) for f in (x, t, u)] == [
        ("x", "numeric"),
        ("t", "categorical"),
        ("u", "any"),
    ]
    assert math.isnan(x.null_as) and t.null_as is None and t.categories == ("a",)


def test_at_most_50_problems_are_detailed_and_the_answer_says_when_more_were_cut() -> None:
    model = _text_model()
    fifty = _answer(model, [{"x": "bad", "t": "a"}] * 50)
    assert len(_problems(fifty)) == 50
    assert fifty[contract.ANSWER_ERROR][contract.ERROR_DETAILS_TRUNCATED] is False
    more = _answer(model, [{"x": "bad", "t": "a"}] * 51)
    assert len(_problems(more)) == 50
    assert more[contract.ANSWER_ERROR][contract.ERROR_DETAILS_TRUNCATED] is True


def test_a_passthrough_column_takes_numbers_only_and_a_dropped_one_takes_anything() -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "gone": list("abcdef")})
    model = _fit([("x", "passthrough", ["x"])], frame)
    features = {f.name: f for f in describe_model(model).features}
    assert (features["x"].kind, features["x"].nullable) == ("numeric", False)
    assert (features["gone"].kind, features["gone"].nullable) == ("any", True)
    ((_, field, problem),) = _problems(_answer(model, [{"x": "1", "gone": "z"}]))
    assert (field, problem) == ("x", "expected a number, got string")
    # whatever the model drops is accepted as it comes: a number, a float, a string, null
    for value in (3, 2.5, "z", None):
        assert contract.ANSWER_PREDICTIONS in _answer(model, [{"x": 1.0, "gone": value}])
    ((_, field, problem),) = _problems(_answer(model, [{"x": 1.0, "gone": math.inf}]))
    assert (field, problem) == ("gone", "not a finite number (NaN/Infinity are not allowed)")


def test_an_imputer_of_a_marker_that_is_not_null_does_not_make_null_acceptable() -> None:
    frame = pd.DataFrame({"x": [0.0, -1.0, 2.0, 3.0, -1.0, 5.0]})
    imputes_minus_one = _fit([("x", SimpleImputer(missing_values=-1.0), ["x"])], frame)
    assert describe_model(imputes_minus_one).features[0].nullable is False
    ((_, field, problem),) = _problems(_answer(imputes_minus_one, [{"x": None}]))
    assert (field, problem) == ("x", "null is not allowed; send a value")
    imputes_nan = _fit([("x", SimpleImputer(), ["x"])], frame)
    assert describe_model(imputes_nan).features[0].nullable is True
    assert contract.ANSWER_PREDICTIONS in _answer(imputes_nan, [{"x": None}])


def test_a_batch_s_labels_come_from_one_pass_only_when_all_rows_are_valid() -> None:
    model = _text_model()
    rows = [{"x": float(i), "t": "ab"[i % 2]} for i in range(6)]
    records = predict_records(model, describe_model(model), [*rows, {"x": "bad", "t": "a"}])
    expected = model.predict(pd.DataFrame(rows)).tolist()
    assert [r.get(contract.RESULT_PREDICTION) for r in records] == [*expected, None]
    probabilities = np.asarray([r[contract.ANSWER_PROBABILITIES] for r in records[:6]])
    np.testing.assert_array_equal(probabilities, model.predict_proba(pd.DataFrame(rows)))


def test_a_table_column_refuses_the_integers_the_rows_refuse() -> None:
    # an int64 column of a Parquet slice: 2**53 + 1 is 2**53 once a float, so a check that
    # compares floats lets it through while the row-by-row check refuses it
    model = _text_model()
    frame = pd.DataFrame({"x": np.array([2**53, 2**53 + 1, 1], dtype=np.int64), "t": list("aba")})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    results = predict_frame(model, describe_model(model), table, first_row=0).to_pandas()
    assert results[contract.RESULT_ERROR].isna().tolist() == [True, False, True]
    assert "outside what a number can hold" in str(results[contract.RESULT_ERROR].iloc[1])


def test_a_model_fitted_without_names_takes_lists_not_objects() -> None:
    # objects keyed x0, x1 (the names the answers use for its columns) are still refused: its
    # rows are lists, on the fast path as on the detailed one
    model = LogisticRegression().fit(np.arange(12.0).reshape(6, 2), LABELS)
    assert contract.ANSWER_PREDICTIONS in _answer(model, [[1.0, 2.0], [3.0, 4.0]])
    refused = _answer(model, [{"x0": 1.0, "x1": 2.0}, {"x0": 3.0, "x1": 4.0}])
    assert [(row, problem) for row, _, problem in _problems(refused)] == [
        (0, "row must be a list of numbers, got object"),
        (1, "row must be a list of numbers, got object"),
    ]


def test_a_passthrough_step_of_a_pipeline_keeps_the_next_steps_contract() -> None:
    # a "passthrough" step is skipped, not taken for a dropped column (which takes anything)
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    model = _fit([("x", Pipeline([("nothing", "passthrough")]), ["x"])], frame)
    (feature,) = describe_model(model).features
    assert (feature.kind, feature.nullable) == ("numeric", False)
    ((_, field, problem),) = _problems(_answer(model, [{"x": "1"}]))
    assert (field, problem) == ("x", "expected a number, got string")


def test_the_shared_scoring_pass_answers_only_the_input_it_was_made_for() -> None:
    model = LogisticRegression().fit(np.arange(12.0).reshape(6, 2), LABELS)
    data, other = np.array([[1.0, 2.0], [7.0, 1.0]]), np.array([[9.0, 9.0]])
    reused: list[str] = []
    shadow = _sharing_copy(model, data, reused)
    np.testing.assert_array_equal(shadow.predict_proba(data), model.predict_proba(data))
    np.testing.assert_array_equal(shadow.predict_proba(other), model.predict_proba(other))
    assert reused == []
    np.testing.assert_array_equal(shadow.predict(data), model.predict(data))
    assert reused  # predict reused the scores of the first pass on the same input


def test_a_pipeline_that_starts_with_passthrough_is_described_by_its_next_step() -> None:
    # the Pipeline itself then has no feature_names_in_ (its first step has none to give)
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": [1.0, 0.0] * 3})
    model = Pipeline([("nothing", "passthrough"), ("m", LogisticRegression())]).fit(frame, LABELS)
    schema = describe_model(model)
    assert schema.named and schema.feature_names == ["x", "y"]
    rows = [{"x": 1.5, "y": 0.0}, {"x": 4.0, "y": 1.0}]
    answer = _answer(model, rows)
    assert answer[contract.ANSWER_PREDICTIONS] == model.predict(pd.DataFrame(rows)).tolist()


def test_a_column_of_number_categories_takes_the_known_numbers_only() -> None:
    frame = pd.DataFrame({"c": [1, 2, 3, 1, 2, 3]})
    model = _fit([("c", OneHotEncoder(handle_unknown="error"), ["c"])], frame)
    (feature,) = describe_model(model).features
    assert (feature.kind, feature.categories) == ("categorical", (1, 2, 3))
    rows = [{"c": 2}, {"c": 3}]
    answer = _answer(model, rows)
    assert answer[contract.ANSWER_PREDICTIONS] == model.predict(pd.DataFrame(rows)).tolist()
    assert _problems(_answer(model, [{"c": 5}])) == [(0, "c", "unknown category 5")]
    assert _problems(_answer(model, [{"c": "2"}])) == [
        (0, "c", "unknown category '2'; expected one of [1, 2, 3]")
    ]


def test_a_model_fitted_on_an_array_takes_null_where_its_estimator_takes_nan() -> None:
    data = np.array([[0.0, 1.0], [np.nan, 0.0], [2.0, 1.0], [3.0, np.nan], [4.0, 0.0], [5.0, 1.0]])
    takes_nan = HistGradientBoostingClassifier(max_iter=5).fit(data, LABELS)
    assert all(f.nullable for f in describe_model(takes_nan).features)
    answer = _answer(takes_nan, [[None, 1.0], [2.5, None]])
    expected = takes_nan.predict(np.array([[np.nan, 1.0], [2.5, np.nan]])).tolist()
    assert answer[contract.ANSWER_PREDICTIONS] == expected
    refuses_nan = LogisticRegression().fit(np.nan_to_num(data), LABELS)
    assert not any(f.nullable for f in describe_model(refuses_nan).features)
    assert _problems(_answer(refuses_nan, [[None, 1.0]])) == [
        (0, "x0", "null is not allowed; send a value")
    ]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_refused_when_every_other_cell_is_valid(value: float) -> None:
    # the request's only problem: the fast column check must not let it through
    model = _text_model()
    assert _problems(_answer(model, [{"x": value, "t": "a"}, {"x": 1.0, "t": "b"}])) == [
        (0, "x", "not a finite number (NaN/Infinity are not allowed)")
    ]


def test_a_column_with_a_single_number_category_takes_it() -> None:
    model = _fit(
        [("c", OneHotEncoder(handle_unknown="error"), ["c"])], pd.DataFrame({"c": [4] * 6})
    )
    assert contract.ANSWER_PREDICTIONS in _answer(model, [{"c": 4}])
    assert _problems(_answer(model, [{"c": 5}])) == [(0, "c", "unknown category 5")]


def _no_negative_b(frame: pd.DataFrame) -> pd.DataFrame:
    if (frame["b"] < 0).any():
        raise ValueError("column 'b' must not be negative")
    return frame


def test_a_refusal_by_the_model_itself_names_the_column_its_message_names() -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0] * 3})
    model = make_pipeline(FunctionTransformer(_no_negative_b), LogisticRegression())
    model.fit(frame, LABELS)
    rows = [{"a": 1.0, "b": 1.0}, {"a": 2.0, "b": -1.0}]
    records = predict_records(model, describe_model(model), rows)
    assert records[0][contract.RESULT_PREDICTION] == model.predict(pd.DataFrame(rows[:1]))[0]
    np.testing.assert_array_equal(
        records[0][contract.ANSWER_PROBABILITIES],
        model.predict_proba(pd.DataFrame(rows[:1]))[0],
    )
    (detail,) = records[1][contract.ANSWER_ERROR][contract.ERROR_DETAILS]
    assert detail[contract.DETAIL_FIELD] == "b"
    assert "must not be negative" in detail[contract.DETAIL_PROBLEM]


def test_null_is_refused_when_a_later_step_cannot_take_nan() -> None:
    # the scaler takes NaN, PCA does not, the boosted trees would: null is refused up front
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 2.0, 3.0, 1.0, 0.0]})
    model = make_pipeline(
        StandardScaler(), PCA(n_components=2), HistGradientBoostingClassifier(max_iter=5)
    ).fit(frame, LABELS)
    assert not any(f.nullable for f in describe_model(model).features)
    assert _problems(_answer(model, [{"a": None, "b": 1.0}])) == [
        (0, "a", "null is not allowed; send a value")
    ]


def test_an_unknown_category_s_refusal_lists_at_most_20_of_the_known_ones() -> None:
    names = [f"k{i:02d}" for i in range(25)]
    columns = ColumnTransformer([("c", OneHotEncoder(handle_unknown="error"), ["c"])])
    model = make_pipeline(columns, LogisticRegression())
    model.fit(pd.DataFrame({"c": names}), [i % 2 for i in range(25)])
    ((_, field, problem),) = _problems(_answer(model, [{"c": "nope"}]))
    listed = ", ".join(repr(n) for n in names[:20])
    assert (field, problem) == ("c", f"unknown category 'nope'; expected one of [{listed}]")


def test_a_value_no_set_can_hold_in_a_known_category_column_is_refused_by_name() -> None:
    """#30's faster row check asks a set whether every category is known: a list or an object
    in such a column is a refused cell with its message, not a crash."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "c": list("ababab")})
    model = _fit([("x", "passthrough", ["x"]), ("c", OneHotEncoder(), ["c"])], frame)
    answer = _answer(model, [{"x": 1.0, "c": "a"}, {"x": 1.0, "c": ["a"]}, {"x": 1.0, "c": {}}])
    assert _problems(answer) == [
        (1, "c", "expected a string, got array"),
        (2, "c", "expected a string, got object"),
    ]


@pytest.mark.parametrize(
    "value",
    [np.str_("a"), type("Text", (str,), {})("a"), "k" * 257],
    ids=["NumPy str_", "a str subclass", "a known category of 257 characters"],
)
def test_the_fast_row_check_judges_a_value_as_the_detailed_check_does(value: Any) -> None:
    """Review of #30: the fast check took a NumPy string or a str subclass for a known
    category (set membership, no type check), and a known category longer than a string may
    be, while the detailed check refuses both. A request whose rows are all valid takes the
    fast check; one with another bad row takes the detailed one: the value is judged alike."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "c": ["a", "b", "k" * 257] * 2})
    model = _fit([("x", "passthrough", ["x"]), ("c", OneHotEncoder(), ["c"])], frame)
    alone = _answer(model, [{"x": 1.0, "c": value}])
    beside_a_bad_row = _answer(model, [{"x": 1.0, "c": value}, {"x": "one", "c": "a"}])
    assert contract.ANSWER_ERROR in alone
    assert [p for p in _problems(beside_a_bad_row) if p[0] == 0] == _problems(alone)


def test_null_is_answered_for_a_column_whose_encoder_ignores_unknown_values() -> None:
    """An encoder with handle_unknown="ignore" takes a null as it takes any unknown value (all
    zeros): the row is answered, as model.predict answers it. Found by ``make mutate`` (a
    non-strict encoder's nullable flag was read by no test)."""
    model = _text_model()
    answer = _answer(model, [{"x": 1.0, "t": None}, {"x": 2.0, "t": "a"}])
    assert contract.ANSWER_ERROR not in answer, answer
    frame = pd.DataFrame({"x": [1.0, 2.0], "t": [None, "a"]})
    assert answer[contract.ANSWER_PREDICTIONS] == model.predict(frame).tolist()


def test_a_passthrough_column_imputed_after_the_column_transformer_takes_null() -> None:
    """A column passed through a ColumnTransformer (fitted as an identity FunctionTransformer)
    and imputed by the pipeline's next step: model.predict answers a null there, and so does
    the function. It refused it: the identity step was read as a numeric step that refuses NaN
    (found by ``make mutate``, mutant 240 of an earlier sample)."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": [1.0, 0.0] * 3})
    model = make_pipeline(
        ColumnTransformer([("x", "passthrough", ["x"]), ("y", "passthrough", ["y"])]),
        SimpleImputer(),
        LogisticRegression(),
    ).fit(frame, LABELS)
    answer = _answer(model, [{"x": None, "y": 1.0}, {"x": 2.0, "y": None}])
    assert contract.ANSWER_ERROR not in answer, answer
    nulls = pd.DataFrame({"x": [np.nan, 2.0], "y": [1.0, np.nan]})
    assert answer[contract.ANSWER_PREDICTIONS] == model.predict(nulls).tolist()
    # without the imputer, the regression refuses NaN: null is still refused
    strict = make_pipeline(
        ColumnTransformer([("x", "passthrough", ["x"]), ("y", "passthrough", ["y"])]),
        LogisticRegression(),
    ).fit(frame, LABELS)
    assert _problems(_answer(strict, [{"x": None, "y": 1.0}])) == [
        (0, "x", "null is not allowed; send a value")
    ]
