"""#30: the compiled engine. Which engine ``auto`` chooses for each model kind and why; that a
compiled model answers exactly what ``model.predict`` answers, at the trees' thresholds too;
and that serving it imports neither scikit-learn, SciPy nor pandas."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier

from ops.errors import ModelFileError
from ops.modelfiles.engine import PROBABILITY_TOLERANCE, choose_engine
from ops.modelfiles.onnx_compile import compile_model
from reintento_function import onnx_engine
from tests.model_kinds import ModelKind, model_kinds

KINDS = {kind.name: kind for kind in model_kinds()}
ENGINE_TABLE = Path(__file__).resolve().parents[2] / "docs" / "model.md"

# what `auto` chooses for each kind of tests/model_kinds.py, and the words of its reason
LINEAR = "sums are added in another order by onnxruntime than by NumPy"
EXPECTED = {
    "logistic regression, integer labels, binary": ("sklearn", LINEAR),
    "random forest, string labels, multiclass, native missing values": ("onnx", "exact"),
    "ridge regressor": ("sklearn", "ONNX differs: 2 of 30 rows' values differ"),
    "histogram gradient boosting regressor, native missing values": ("onnx", "exact"),
    "pipeline: imputers, one-hot with handle_unknown='ignore'": ("sklearn", LINEAR),
    "pipeline: one-hot refusing unknowns, ordinal encoding them, a tree": ("onnx", "exact"),
    "one-hot encoder that learned missing as a category, gradient boosting": ("onnx", "exact"),
    "fitted on a NumPy array (no feature names), multiclass": ("sklearn", LINEAR),
    "SGD classifier whose predict_proba disagrees with predict on some rows": (
        "sklearn",
        "no exact conversion for SGDClassifier",
    ),
}


def _answers(kind_model: Any, compiled: bytes, frame: Any) -> tuple[Any, Any]:
    session = onnx_engine.session(compiled)
    inputs = onnx_engine.input_columns(session)
    if isinstance(frame, pd.DataFrame):
        feed = onnx_engine.feeds(inputs, {c: frame[c].tolist() for c in frame.columns})
    else:
        feed = onnx_engine.feeds(inputs, None, frame)
    return onnx_engine.run(session, feed)


def test_every_model_kind_is_listed() -> None:
    assert set(EXPECTED) == set(KINDS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_engine_auto_chooses_and_why(name: str) -> None:
    kind: ModelKind = KINDS[name]
    choice = choose_engine(kind.model, kind.valid)
    engine, words = EXPECTED[name]
    assert (choice.engine, words in choice.reason) == (engine, True), choice.reason
    if choice.engine != "onnx":
        assert choice.onnx is None
        return
    # an ONNX-served kind answers exactly what model.predict answers on its rows, checked
    # here on the model's own input, independently of the choice's own comparison
    assert choice.onnx is not None
    frame = kind.frame(kind.valid)
    labels, proba = _answers(kind.model, choice.onnx, frame)
    expected = kind.model.predict(frame)
    assert np.array_equal(np.asarray(labels), np.asarray(expected))
    if proba is not None:
        assert np.max(np.abs(proba - kind.model.predict_proba(frame))) <= PROBABILITY_TOLERANCE


def test_the_docs_table_says_what_auto_chooses() -> None:
    """docs/model.md's table of model kinds (linked from the README) is this test's."""
    text = ENGINE_TABLE.read_text()
    for name, (engine, _) in EXPECTED.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| {name} |")), None)
        assert row is not None, f"docs/model.md has no row for {name!r}"
        shown = "ONNX" if engine == "onnx" else "scikit-learn"
        assert f"| {shown} |" in row, row


def _at_the_thresholds(thresholds: Any, width: int) -> Any:
    """Rows whose values sit on each split threshold, one double step either side, and on the
    float32 neighbours of the threshold (a float32 comparison would send some the wrong way)."""
    values = []
    for t in np.unique(thresholds):
        t = float(t)
        f32 = float(np.float32(t))
        values += [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), f32]
        values += [float(np.nextafter(np.float32(t), np.float32(np.inf)))]
    values = np.asarray(values)
    rng = np.random.default_rng(0)
    return np.column_stack([rng.permutation(values) for _ in range(width)])


def test_trees_split_where_scikit_learn_splits_on_and_beside_each_threshold() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 3)) * 1000.0 / 7.0
    y = (x[:, 0] + x[:, 1] ** 2 > 50).astype(int)
    x[rng.random(x.shape) < 0.05] = np.nan
    for model in (
        DecisionTreeClassifier(random_state=0).fit(x, y),
        HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y),
    ):
        if hasattr(model, "tree_"):
            thresholds = model.tree_.threshold[model.tree_.children_left != -1]
        else:
            thresholds = np.concatenate(
                [
                    p.nodes["num_threshold"][~p.nodes["is_leaf"].astype(bool)]
                    for (p,) in model._predictors
                ]
            )
        rows = _at_the_thresholds(thresholds, 3)
        rows[::7, 1] = np.nan
        labels, _ = _answers(model, compile_model(model, set()), rows)
        assert np.array_equal(labels, model.predict(rows)), type(model).__name__


def test_a_forest_regressor_s_values_are_identical_to_the_last_bit() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    model = RandomForestRegressor(n_estimators=15, random_state=0).fit(x, x[:, 0] * 3 + x[:, 1])
    values, _ = _answers(model, compile_model(model, set()), x)
    assert np.array_equal(values, model.predict(x))


def test_onnx_asked_for_refuses_a_conversion_that_differs_unless_a_tolerance_covers_it() -> None:
    ridge = KINDS["ridge regressor"]
    with pytest.raises(ModelFileError) as refused:
        choose_engine(ridge.model, ridge.valid, engine="onnx")
    assert "differ" in str(refused.value) and "tolerance" in str(refused.value)
    choice = choose_engine(ridge.model, ridge.valid, engine="onnx", tolerance=1e-9)
    assert choice.engine == "onnx" and choice.tolerance == 1e-9
    assert choice.agreement is not None and choice.agreement.differing == 2
    assert "within tolerance 1e-09 (asked for)" in choice.reason
    sgd = KINDS["SGD classifier whose predict_proba disagrees with predict on some rows"]
    with pytest.raises(ModelFileError, match="SGDClassifier"):
        choose_engine(sgd.model, sgd.valid, engine="onnx")


def test_scikit_learn_asked_for_is_not_compiled() -> None:
    kind = KINDS["ridge regressor"]
    choice = choose_engine(kind.model, kind.valid, engine="sklearn")
    assert (choice.engine, choice.onnx, choice.agreement) == ("sklearn", None, None)
    with pytest.raises(ModelFileError, match="engine must be one of auto, sklearn, onnx"):
        choose_engine(kind.model, kind.valid, engine="fast")  # type: ignore[arg-type]


def test_the_demo_model_compiles_exactly(demo_estimator: Any, rows_1000: list[Any]) -> None:
    choice = choose_engine(demo_estimator, rows_1000)
    assert choice.engine == "onnx", choice.reason
    assert choice.agreement is not None and choice.agreement.rows == len(rows_1000)


def test_serving_the_compiled_model_imports_no_scikit_learn(
    demo_estimator: Any, rows_1000: list[Any], tmp_path: Path
) -> None:
    """The engine module alone serves it: scikit-learn, SciPy, pandas and joblib stay out."""
    choice = choose_engine(demo_estimator, rows_1000)
    assert choice.onnx is not None
    (tmp_path / "model.onnx").write_bytes(choice.onnx)
    columns = {k: [r[k] for r in rows_1000[:5]] for k in rows_1000[0]}
    script = textwrap.dedent(
        f"""
        import json, sys
        from reintento_function import onnx_engine as e
        s = e.session(open({str(tmp_path / "model.onnx")!r}, "rb").read())
        labels, proba = e.run(s, e.feeds(e.input_columns(s), json.loads(sys.argv[1])))
        loaded = [m for m in ("sklearn", "scipy", "pandas", "joblib") if m in sys.modules]
        print(json.dumps({{"labels": labels.tolist(), "loaded": loaded}}))
        """
    )
    import json

    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(columns)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    answer = json.loads(done.stdout)
    assert answer["loaded"] == []
    frame = pd.DataFrame(rows_1000[:5])
    assert answer["labels"] == demo_estimator.predict(frame).tolist()


def test_a_columnar_slice_on_the_compiled_engine_imports_no_pandas(
    demo_estimator: Any, rows_1000: list[Any], tmp_path: Path
) -> None:
    """A Parquet batch slice served by the compiled engine is read, checked, predicted and
    written with pyarrow and NumPy: pandas, scikit-learn, SciPy and joblib stay out."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    choice = choose_engine(demo_estimator, rows_1000)
    assert choice.onnx is not None
    (tmp_path / "model.onnx").write_bytes(choice.onnx)
    rows = [*rows_1000[:40], {**rows_1000[0], "region": "mars-1"}]  # one refused cell
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "slice.parquet")
    import joblib

    from ops.modelfiles.manifest import build_manifest

    joblib.dump(demo_estimator, tmp_path / "model.pkl")
    (tmp_path / "manifest.json").write_text(build_manifest(tmp_path / "model.pkl").to_json())
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from reintento_function.columnar_slice import predict_frame, read_table, write_table
        from reintento_function.inference_core import schema_from_manifest
        from reintento_function.onnx_engine import CompiledModel
        folder = Path({str(tmp_path)!r})
        model = CompiledModel.load((folder / "model.onnx").read_bytes())
        schema = schema_from_manifest(json.loads((folder / "manifest.json").read_text()))
        body = (folder / "slice.parquet").read_bytes()
        results = predict_frame(model, schema, read_table(body, pandas_free=True), 0)
        write_table(results)
        loaded = [m for m in ("sklearn", "scipy", "pandas", "joblib") if m in sys.modules]
        # later in the same process, the scikit-learn engine and pyarrow's pandas still work
        import joblib
        pickled = joblib.load(folder / "model.pkl")
        again = predict_frame(pickled, schema, read_table(body), 0).column("prediction")
        frame = read_table(body).to_pandas()
        print(json.dumps({{"labels": results.column("prediction").to_pylist(),
                           "errors": results.column("error").to_pylist(), "loaded": loaded,
                           "sklearn": again.to_pylist(), "frame": len(frame)}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    answer = json.loads(done.stdout)
    assert answer["loaded"] == []
    assert answer["labels"][:40] == demo_estimator.predict(pd.DataFrame(rows[:40])).tolist()
    assert answer["labels"][40] is None and "region: unknown category" in answer["errors"][40]
    assert answer["sklearn"] == answer["labels"] and answer["frame"] == len(rows)


@pytest.mark.parametrize(
    "name",
    [
        "logistic regression, integer labels, binary",
        "pipeline: imputers, one-hot with handle_unknown='ignore'",
        "fitted on a NumPy array (no feature names), multiclass",
    ],
)
def test_a_linear_model_is_compiled_only_when_asked_for(name: str) -> None:
    """A linear model's compiled answers equal its own on the verification rows, but its sums
    are added in another order than NumPy's: ``auto`` does not serve it (a review found 511 of
    2,000 rows placed on the boundary answered differently); ``engine="onnx"`` does."""
    kind = KINDS[name]
    choice = choose_engine(kind.model, kind.valid, engine="onnx")
    assert choice.engine == "onnx" and choice.onnx is not None
    labels, _ = _answers(kind.model, choice.onnx, kind.frame(kind.valid))
    assert np.array_equal(np.asarray(labels), kind.model.predict(kind.frame(kind.valid)))


def _mixed(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "c": rng.choice(np.array(["a", "b", "c"], dtype=object), n)}
    )
    frame.loc[rng.random(n) < 0.2, "c"] = np.nan
    return frame


def test_a_string_a_client_sends_is_never_taken_for_a_null() -> None:
    """Review of #30: nulls travelled as a marker string ("\\x00null"), which a client could
    send; the model took it for a null. Nulls now travel in a mask input of their own."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = _mixed()
    y = ((frame["x"] > 0) ^ frame["c"].isna()).astype(int)
    model = make_pipeline(
        ColumnTransformer(
            [("c", OneHotEncoder(handle_unknown="ignore"), ["c"]), ("x", "passthrough", ["x"])]
        ),
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
    ).fit(frame, y)
    rows = [
        {"x": float(x), "c": None if pd.isna(c) else c}
        for x, c in zip(frame["x"], frame["c"], strict=True)
    ]
    choice = choose_engine(model, rows)
    assert choice.engine == "onnx" and choice.onnx is not None, choice.reason
    probe = pd.DataFrame({"x": [0.3, 0.3, 0.3], "c": ["\x00null", None, "zzz"]})
    labels, proba = _answers(model, choice.onnx, probe)
    assert np.array_equal(labels, model.predict(probe))
    assert np.max(np.abs(proba - model.predict_proba(probe))) <= PROBABILITY_TOLERANCE


def test_rows_the_model_refuses_are_refused_by_the_compiled_model_too() -> None:
    """Review of #30: the compiled model answered rows scikit-learn refuses (a value beyond
    float32 into a tree; an overflow after scaling into a linear model). Each engine now
    refuses them, and the other rows are answered."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from reintento_function.inference_core import check_rows, describe_model, predict_attributed
    from reintento_function.onnx_engine import CompiledModel

    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] > 0).astype(int)
    rows = [{"a": 0.5, "b": 0.1}, {"a": 3.5e38, "b": 0.0}, {"a": 1e307, "b": -1e307}]
    for model in (
        DecisionTreeClassifier(random_state=0).fit(x, y),
        make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
    ):
        compiled = CompiledModel.load(compile_model(model, set()))
        schema = describe_model(model)
        mine = predict_attributed(model, schema, check_rows(schema, rows))
        theirs = predict_attributed(compiled, schema, check_rows(schema, rows))
        assert mine[0] == theirs[0], type(model).__name__  # the same rows answered
        assert [p.row for p in mine[2]] == [p.row for p in theirs[2]]
        assert mine[1].predictions == theirs[1].predictions


def test_models_the_converter_cannot_take_fall_back_to_scikit_learn_with_the_reason() -> None:
    """Review of #30: an encoder after a column transformer, or a pipeline that starts with
    "passthrough", made the upload crash. They compile now; what fails in a conversion is a
    reason to serve scikit-learn, never a crash."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    frame = _mixed().fillna({"c": "a"})
    y = (frame["x"] > 0).astype(int)
    rows = frame.to_dict("records")[:50]
    after = make_pipeline(
        ColumnTransformer([("x", StandardScaler(), ["x"]), ("c", OrdinalEncoder(), ["c"])]),
        OneHotEncoder(handle_unknown="ignore"),
        DecisionTreeClassifier(random_state=0),
    ).fit(frame, y)
    passthrough = Pipeline(
        [("p", "passthrough"), ("t", DecisionTreeClassifier(random_state=0))]
    ).fit(frame[["x"]], y)
    for model, given in ((after, rows), (passthrough, [{"x": r["x"]} for r in rows])):
        choice = choose_engine(model, given)
        assert choice.engine in ("onnx", "sklearn"), choice.reason
        if choice.engine == "onnx":
            assert choice.agreement is not None and choice.agreement.exact()


def _piecewise(monkeypatch: pytest.MonkeyPatch, compiled: bytes, frame: Any, cores: int) -> Any:
    monkeypatch.setattr(onnx_engine, "cores", lambda: cores)
    return _answers(None, compiled, frame)


def _tiled(kind: ModelKind, rows: int) -> Any:
    """``rows`` of the kind's valid rows, over and over, as ``model.predict`` takes them."""
    return kind.frame([kind.valid[i % len(kind.valid)] for i in range(rows)])


# every kind the converter takes (linear ones too: served compiled when asked for)
COMPILED = sorted(n for n, (_, why) in EXPECTED.items() if not why.startswith("no exact"))


@pytest.mark.parametrize("name", COMPILED)
def test_a_request_cut_into_pieces_is_answered_to_the_last_bit_as_in_one_run(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On more than one core a large request runs in pieces of rows at once; every row's label
    and probabilities are the bits one run gives."""
    kind = KINDS[name]
    compiled = compile_model(kind.model, _text_columns_of(kind))
    for rows in (onnx_engine.PARALLEL_ROWS, 5_003):
        frame = _tiled(kind, rows)
        one = _piecewise(monkeypatch, compiled, frame, 1)
        assert len(onnx_engine.pieces(rows, 3)) == 3
        for cores in (2, 3):
            cut = _piecewise(monkeypatch, compiled, frame, cores)
            for mine, theirs in zip(one, cut, strict=True):
                assert (mine is None) == (theirs is None)
                if mine is not None:
                    assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
                    if mine.dtype == object:  # string labels: the strings, not their pointers
                        assert mine.tolist() == theirs.tolist()
                    else:
                        assert mine.tobytes() == theirs.tobytes()


def _text_columns_of(kind: ModelKind) -> set[str]:
    from reintento_function.inference_core import describe_model

    schema = describe_model(kind.model)
    return {f.name for f in schema.features if f.kind != "numeric"} if schema.named else set()


def test_pieces_cut_at_whole_blocks_of_rows() -> None:
    assert onnx_engine.pieces(onnx_engine.PARALLEL_ROWS - 1, 4) == [slice(0, 2047)]
    assert onnx_engine.pieces(10_000, 1) == [slice(0, 10_000)]
    cut = onnx_engine.pieces(10_001, 3)
    assert [(s.start, s.stop) for s in cut] == [(0, 3_456), (3_456, 6_912), (6_912, 10_001)]
    assert all((s.stop - s.start) % onnx_engine.PIECE_ROWS == 0 for s in cut[:-1])


def test_no_string_crosses_into_onnxruntime(demo_estimator: Any, rows_1000: list[Any]) -> None:
    """A categorical feature reaches the compiled model as codes (its index in the list the
    model's metadata holds), not as strings: one comparison per feature, no string tensors."""
    choice = choose_engine(demo_estimator, rows_1000)
    assert choice.onnx is not None
    session = onnx_engine.session(choice.onnx)
    types = {i.name: i.type for i in session.get_inputs()}
    encoder = demo_estimator[0].named_transformers_["cat"]
    text = list(demo_estimator[0].transformers_[1][2])
    assert {types[name] for name in text} == {"tensor(int64)"}
    assert "tensor(string)" not in types.values()
    listed = {i.name: i.codes for i in onnx_engine.input_columns(session) if i.codes}
    assert {name: list(codes) for name, codes in listed.items()} == {
        name: [str(c) for c in cats] for name, cats in zip(text, encoder.categories_, strict=True)
    }


def test_a_text_column_imputed_and_encoded_twice_answers_as_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One text column imputed, then one-hot encoded (unknowns ignored) and ordinal encoded
    (unknowns given a code) in two branches: the codes' table is the column's, shared by both,
    and every row (null, unknown, a string like the null marker) is answered exactly."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    frame = _mixed(400)
    y = ((frame["x"] > 0) ^ (frame["c"] == "b")).astype(int)
    imputed = SimpleImputer(strategy="constant", fill_value="filled")
    model = make_pipeline(
        ColumnTransformer(
            [
                ("one", make_pipeline(imputed, OneHotEncoder(handle_unknown="ignore")), ["c"]),
                ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=9), ["c"]),
                ("x", "passthrough", ["x"]),
            ]
        ),
        HistGradientBoostingClassifier(max_iter=15, random_state=0),
    ).fit(frame, y)
    compiled = compile_model(model, {"c"})
    probe = pd.DataFrame(
        {
            "x": [0.3, -0.3, 0.3, -0.3, 0.3, 0.3, 2.0],
            "c": ["a", "b", None, "zzz", "filled", "\x00null", "c"],
        }
    )
    for cores in (1, 2):
        labels, proba = _piecewise(monkeypatch, compiled, probe, cores)
        assert np.array_equal(labels, model.predict(probe))
        assert np.max(np.abs(proba - model.predict_proba(probe))) <= PROBABILITY_TOLERANCE


def test_a_model_compiled_before_the_codes_is_still_served() -> None:
    """Files compiled before categorical features became codes take strings and a null mask;
    a function updated since serves them as before."""
    from ops.modelfiles.onnx_graph import BOOL, INT64, STRING, Graph

    graph = Graph()
    text, null = graph.input("c", STRING), graph.input("c" + onnx_engine.NULL_SUFFIX, BOOL)
    is_a = graph.op("Equal", [text, graph.const([["a"]])])
    known = graph.op("And", [is_a, graph.op("Not", [null])])
    label = graph.op("Reshape", [graph.op("Cast", [known], to=INT64), graph.const([-1])])
    model = graph.model({onnx_engine.LABEL_OUTPUT: (label, INT64, [None])}, {})
    session = onnx_engine.session(model)
    inputs = onnx_engine.input_columns(session)
    assert [(i.name, i.text, i.codes) for i in inputs] == [("c", True, None)]
    feed = onnx_engine.feeds(inputs, {"c": ["a", "b", None, float("nan"), 3]})
    labels, _ = onnx_engine.run(session, feed)
    assert labels.tolist() == [1, 0, 0, 0, 0]


def test_an_unknown_category_a_strict_encoder_refuses_is_refused_by_the_compiled_model() -> None:
    """Review of #30: one column encoded twice, by an encoder that refuses unknown categories
    and by one that ignores them. The row check lets an unknown category through (the ignoring
    encoder takes it); scikit-learn's strict encoder then refuses the row, but the compiled
    model answered it. The compiled model now refuses it too, and answers the other rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    from reintento_function.inference_core import check_rows, describe_model, predict_attributed
    from reintento_function.onnx_engine import CompiledModel

    complete = _mixed(300).fillna({"c": "a"})
    rows = [{"x": 0.2, "c": "a"}, {"x": 0.2, "c": "zz"}, {"x": -0.4, "c": "b"}]
    for strict, frame, sent in (
        (OneHotEncoder(), complete, rows),
        (OrdinalEncoder(), complete, rows),
        (OrdinalEncoder(), _mixed(300), [*rows, {"x": 0.1, "c": None}]),  # null: encoded
    ):
        y = ((frame["x"] > 0) ^ (frame["c"] == "b")).astype(int)
        model = make_pipeline(
            ColumnTransformer(
                [
                    ("strict", strict, ["c"]),
                    ("loose", OneHotEncoder(handle_unknown="ignore"), ["c"]),
                    ("x", "passthrough", ["x"]),
                ]
            ),
            HistGradientBoostingClassifier(max_iter=10, random_state=0),
        ).fit(frame, y)
        schema = describe_model(model)
        compiled = CompiledModel.load(compile_model(model, {"c"}))
        mine = predict_attributed(model, schema, check_rows(schema, sent))
        theirs = predict_attributed(compiled, schema, check_rows(schema, sent))
        assert [p.row for p in mine[2]] == [1], type(strict).__name__  # scikit-learn refuses
        assert [p.row for p in theirs[2]] == [1], type(strict).__name__
        assert mine[0] == theirs[0] and mine[1].predictions == theirs[1].predictions
