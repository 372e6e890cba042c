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
EXPECTED = {
    "logistic regression, integer labels, binary": ("onnx", "exact on 40 rows"),
    "random forest, string labels, multiclass, native missing values": ("onnx", "exact"),
    "ridge regressor": ("sklearn", "ONNX differs: 2 of 30 rows' values differ"),
    "histogram gradient boosting regressor, native missing values": ("onnx", "exact"),
    "pipeline: imputers, one-hot with handle_unknown='ignore'": ("onnx", "exact"),
    "pipeline: one-hot refusing unknowns, ordinal encoding them, a tree": ("onnx", "exact"),
    "one-hot encoder that learned missing as a category, gradient boosting": ("onnx", "exact"),
    "fitted on a NumPy array (no feature names), multiclass": ("onnx", "exact"),
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
