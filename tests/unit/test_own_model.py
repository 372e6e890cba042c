"""Your own model, in pure code: the version read from the file's bytes, the feature profile
(from data and from the model), rows that fit any model kind, bad-input cases made for it, a
stale manifest rebuilt, and no demo feature named outside the demo's module."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn

import ops
from ops.modelfiles import demo_model
from ops.modelfiles.local_model import saved_with
from ops.modelfiles.manifest import describe_file, ensure_manifest, read_manifest
from ops.modelfiles.profile import QUANTILE_LEVELS, profile_frame
from ops.modelfiles.rows import bad_cases, breakage
from ops.modelfiles.versions import PROJECT_ROOT
from reintento_function.inference_core import check_rows, describe_model
from tests.model_kinds import ModelKind, model_kinds

KINDS = model_kinds()


@pytest.fixture(scope="module")
def kind_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[ModelKind, Path]]:
    folder = tmp_path_factory.mktemp("kinds")
    out = []
    for i, kind in enumerate(KINDS):
        path = folder / f"kind{i}.pkl"
        joblib.dump(kind.model, path)
        out.append((kind, path))
    return out


@pytest.mark.parametrize("options", [{}, {"protocol": 2}, {"protocol": 3}, {"compress": 3}])
def test_the_saving_version_is_read_from_the_bytes(tmp_path: Path, options: dict[str, Any]) -> None:
    # GIVEN a model saved with joblib (any pickle protocol, compressed or not)
    path = tmp_path / "m.pkl"
    joblib.dump(KINDS[0].model, path, **options)
    # THEN the version that saved it is read without unpickling
    assert saved_with(path) == sklearn.__version__
    # AND a file that is no scikit-learn pickle says nothing
    (tmp_path / "x.pkl").write_bytes(b"not a pickle")
    assert saved_with(tmp_path / "x.pkl") is None


def test_a_profile_from_data_equals_pandas_own_figures() -> None:
    # GIVEN data with a numeric feature (with nulls), a categorical one and a target column
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 1000).round(1),
            "city": rng.choice(["lima", "quito", "cusco"], 1000, p=[0.5, 0.3, 0.2]),
            "target": rng.integers(0, 2, 1000),
        }
    )
    frame.loc[::10, "age"] = np.nan
    accepted = [{"name": "age", "kind": "numeric"}, {"name": "city", "kind": "categorical"}]
    # WHEN it is profiled (sample of 50 rows)
    profile, left_out = profile_frame(frame, accepted, named=True, model_sha256="x", sample=50)
    # THEN the figures are pandas' own, the target is left out and named
    age, city = profile.features
    assert left_out == ("target",)
    assert age.null_share == pytest.approx(0.1)
    expected = frame["age"].dropna().quantile(list(QUANTILE_LEVELS)).tolist()
    assert list(age.quantiles or ()) == pytest.approx(expected)
    shares = frame["city"].value_counts(normalize=True)
    assert dict(city.categories or ()) == pytest.approx(shares.round(6).to_dict())
    assert profile.sample is not None and len(profile.sample) == 50
    assert set(profile.sample[0]) == {"age", "city"} and not profile.synthetic
    # AND without a sample no row is kept; a missing feature is refused naming it
    private, _ = profile_frame(frame, accepted, named=True, model_sha256="x", sample=0)
    assert private.sample is None
    with pytest.raises(ops.ConfigurationError, match="city"):
        profile_frame(frame[["age"]], accepted, named=True, model_sha256="x")


@pytest.mark.parametrize("at", range(len(KINDS)), ids=[k.name for k in KINDS])
def test_rows_made_from_the_model_alone_fit_it(
    at: int, kind_files: list[tuple[ModelKind, Path]]
) -> None:
    # GIVEN a model of this kind and no data: its manifest's profile is made from the model
    kind, path = kind_files[at]
    manifest = ensure_manifest(path)
    assert manifest.input_profile is not None and manifest.input_profile.synthetic
    # WHEN rows are drawn for it
    rows = ops.model_rows(path).take(40, seed=1)
    assert rows.synthetic and len(rows) == 40
    # THEN the function's check accepts every row and model.predict answers them
    schema = describe_model(kind.model)
    assert check_rows(schema, list(rows)).problems == []
    assert len(kind.model.predict(kind.frame(list(rows)))) == 40
    # AND rows made invalid on purpose are refused by the check, each naming its field
    broken = rows.take(40, seed=1, invalid_every=10)
    problems = check_rows(schema, list(broken)).problems
    assert sorted({p.row for p in problems}) == [9, 19, 29, 39]
    case = breakage(manifest)
    assert case is not None and (case.field is None or {p.field for p in problems} == {case.field})


@pytest.mark.parametrize("at", range(len(KINDS)), ids=[k.name for k in KINDS])
def test_bad_cases_are_made_for_the_model_or_say_why_not(
    at: int, kind_files: list[tuple[ModelKind, Path]]
) -> None:
    kind, path = kind_files[at]
    manifest = ensure_manifest(path)
    names = [f["name"] for f in manifest.features or []]
    schema = describe_model(kind.model)
    for case in bad_cases(manifest, kind.valid[0]):
        if case.rows is None:
            assert case.why_not  # it says why it does not apply to this model
            continue
        if not case.rows:
            continue  # the empty request
        # THEN each applicable case is refused by the function's check, on the field it names
        problems = check_rows(schema, case.rows).problems
        assert problems, case.case
        if case.field is not None and case.field != "not_a_feature":
            assert case.field in names
            assert case.field in {p.field for p in problems}, case.case


def test_a_stale_manifest_is_rebuilt_and_says_so(tmp_path: Path) -> None:
    # GIVEN a model profiled from data, then replaced by another model file at the same path
    kind_a, kind_b = KINDS[4], KINDS[5]
    path = tmp_path / "mejor_modelo.pkl"
    joblib.dump(kind_a.model, path)
    ops.profile_model(path, rows=kind_a.frame(kind_a.valid))
    recorded = read_manifest(path)
    assert recorded is not None and recorded.input_profile is not None
    assert not recorded.input_profile.synthetic
    joblib.dump(kind_b.model, path)
    # WHEN the manifest is prepared again
    manifest = ops.prepare_model(path)
    # THEN it describes the new file, says it was rebuilt, and the data profile is dropped
    assert "rebuilt" in manifest.note and "profile from data" in manifest.note
    assert manifest.classes == ["no", "yes"]
    assert manifest.input_profile is not None and manifest.input_profile.synthetic
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == manifest.sha256
    # AND once more, with the same file, nothing is rebuilt and the note is empty
    assert describe_file(path).note == ""


def test_a_data_profile_stays_while_the_model_file_is_the_same(tmp_path: Path) -> None:
    kind = KINDS[2]
    path = tmp_path / "m.pkl"
    joblib.dump(kind.model, path)
    ops.profile_model(path, rows=kind.frame(kind.valid), sample=10)
    rows = ops.model_rows(path)
    assert rows.source == "sample" and not rows.synthetic and len(rows) == 10
    assert rows.take(25, seed=2).rows[0] in rows.rows  # drawn from the real rows


# the demo's own names ("region" is also a setting of every verb, so it is left out of the search)
DEMO_FEATURES = [
    f for f in (*demo_model.NUMERIC, *demo_model.CATEGORICAL, demo_model.TARGET) if f != "region"
]


def test_no_notebook_and_no_ops_module_but_the_demos_names_a_demo_feature() -> None:
    # the notebooks' sources (their committed outputs show the demo model's run) and ops'
    # modules, the demo model's own module excepted
    pattern = re.compile(r"\b(" + "|".join(re.escape(f) for f in DEMO_FEATURES) + r")\b")
    found = []
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if pattern.search("".join(cell["source"])):
                found.append(path.name)
    for path in sorted((PROJECT_ROOT / "ops").rglob("*.py")):
        if path.name != "demo_model.py" and pattern.search(path.read_text()):
            found.append(str(path.relative_to(PROJECT_ROOT)))
    for path in sorted((PROJECT_ROOT / "lambda" / "reintento_function").rglob("*.py")):
        if pattern.search(path.read_text()):
            found.append(str(path.relative_to(PROJECT_ROOT)))
    assert found == []


# ---- defects a review of the first version found (each test failed on it)


def test_a_model_fitted_on_integer_codes_gets_rows_of_its_codes(tmp_path: Path) -> None:
    # GIVEN a model fitted on an array whose third column is one-hot encoded integer codes
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=200), rng.normal(size=200), rng.integers(0, 4, 200)])
    model = make_pipeline(
        ColumnTransformer([("n", StandardScaler(), [0, 1]), ("c", OneHotEncoder(), [2])]),
        LogisticRegression(),
    ).fit(x, x[:, 0] > 0)
    path = tmp_path / "m.pkl"
    joblib.dump(model, path)
    # THEN the synthetic rows carry codes the encoder knows, and the model answers them
    rows = ops.model_rows(path).take(50, seed=3)
    assert {r[2] for r in rows} <= {0.0, 1.0, 2.0, 3.0}
    assert len(model.predict(np.asarray(list(rows), dtype=float))) == 50


def test_a_table_of_rows_for_a_model_without_names_is_read_by_position(tmp_path: Path) -> None:
    kind = KINDS[7]  # fitted on a NumPy array
    path = tmp_path / "m.pkl"
    joblib.dump(kind.model, path)
    table = tmp_path / "rows.csv"
    pd.DataFrame(kind.valid).assign(label=1).to_csv(table, index=False)
    rows = ops.model_rows(path, rows=table)
    assert list(rows[0]) == pytest.approx(kind.valid[0]) and rows.left_out == ("label",)
    # AND the check answers a table's rows as the function does: by position, each column one
    # value (an extra column is one value too many)
    exact = tmp_path / "exact.csv"
    pd.DataFrame(kind.valid).to_csv(exact, index=False)
    assert ops.check_model(path, rows=exact).ok
    assert ops.check_model(path, rows=table).refused_rows == len(kind.valid)


def test_invalid_rows_of_a_table_stay_invalid_for_an_all_text_model(tmp_path: Path) -> None:
    # GIVEN a model of text features only, whose encoder ignores unknown values and that
    # imputes nulls: a missing or unknown value is fine for it
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"city": ["lima", "quito", "cusco"] * 20, "plan": ["a", "b"] * 30})
    model = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore"),
        LogisticRegression(),
    ).fit(frame, [0, 1, 1] * 20)
    path = tmp_path / "m.pkl"
    joblib.dump(model, path)
    # WHEN every 10th row of a batch table is made invalid on purpose
    rows = ops.model_rows(path).take(40, seed=1, invalid_every=10)
    table_rows = ops.inputs.payloads.to_rows(rows.frame())
    # THEN those rows are refused by the function's check, as the rows a table sends
    problems = check_rows(describe_model(model), table_rows).problems
    assert sorted({p.row for p in problems}) == [9, 19, 29, 39]


def test_a_boolean_feature_is_sent_as_a_number(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": np.arange(40.0), "flag": [True, False] * 20})
    model = LogisticRegression().fit(frame, [0, 1] * 20)
    path = tmp_path / "m.pkl"
    joblib.dump(model, path)
    ops.profile_model(path, rows=frame, sample=10)
    rows = ops.model_rows(path)
    assert {type(r["flag"]) for r in rows} == {int}
    assert check_rows(describe_model(model), list(rows)).problems == []


def test_the_check_counts_every_invalid_row(tmp_path: Path) -> None:
    kind = KINDS[2]  # ridge regressor
    path = tmp_path / "m.pkl"
    joblib.dump(kind.model, path)
    bad = [{**kind.valid[0], "bmi": "x"}] * 120
    checked = ops.check_model(path, rows=[*kind.valid, *bad])
    assert checked.accepted and checked.refused_rows == 120 and not checked.ok


def test_a_missing_model_file_is_a_refusal_not_a_crash(tmp_path: Path) -> None:
    checked = ops.check_model(tmp_path / "nope.pkl")
    assert not checked.accepted and "no model file" in checked.reason
    with pytest.raises(ops.ModelFileError, match="no model file"):
        ops.profile_model(tmp_path / "nope.pkl")


def test_infinite_values_in_data_are_profiled_as_missing(tmp_path: Path) -> None:
    kind = KINDS[2]
    path = tmp_path / "m.pkl"
    joblib.dump(kind.model, path)
    frame = kind.frame(kind.valid)
    frame.loc[0, "bmi"] = np.inf
    manifest = ops.profile_model(path, rows=frame, sample=30)
    profile = manifest.input_profile
    assert profile is not None and profile.feature("bmi").null_share > 0  # type: ignore[union-attr]


def test_the_version_is_read_across_a_frame_boundary_and_from_protocol_0(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "m.pkl"
    for pad in range(0, 160, 3):  # frames end anywhere, between the key and its value too
        path.write_bytes(pickle.dumps([b"x" * pad, KINDS[0].model], protocol=5))
        assert saved_with(path) == sklearn.__version__, pad
    joblib.dump(KINDS[0].model, path, protocol=0)
    assert saved_with(path) == sklearn.__version__


def test_hints_stop_at_a_step_that_makes_new_columns() -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    from reintento_function.model_hints import feature_hints

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(1000, 10, 100), "b": rng.normal(-50, 5, 100)})
    model = make_pipeline(PolynomialFeatures(), StandardScaler(), LinearRegression())
    model.fit(frame, frame["a"])
    # the scaler's means are of the polynomial's columns, not of a and b: not read as theirs
    assert [h.get("center") for h in feature_hints(model, describe_model(model))] == [None, None]


# ---- what a newcomer's trial found (each test failed on the code it tried)


def test_the_version_advice_names_the_path_from_the_project_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ops.modelfiles.local_model import mismatch_advice

    # GIVEN a notebook's own relative path (its kernel runs in notebooks/)
    monkeypatch.chdir(PROJECT_ROOT / "notebooks")
    advice = mismatch_advice(Path("../models/mejor_modelo.pkl"), "1.7.2", "1.9.1")
    # THEN the command works when run from the project folder, as the README's commands are
    assert "`python -m ops pin-function models/mejor_modelo.pkl`" in advice
    # AND a model saved with the project's own version says how to go back to it
    back = mismatch_advice(Path("../models/mejor_modelo.pkl"), sklearn.__version__, "1.7.2")
    assert "git checkout lambda/" in back


def test_a_check_names_columns_that_are_not_features(tmp_path: Path) -> None:
    kind = KINDS[2]
    path = tmp_path / "m.pkl"
    joblib.dump(kind.model, path)
    rows = tmp_path / "rows.csv"
    pd.DataFrame(kind.valid).assign(label=1.0).to_csv(rows, index=False)
    checked = ops.check_model(path, rows=rows)
    text = checked.cli_text()
    assert checked.refused_rows == len(kind.valid)
    assert "label: not features of the model; leave them out" in text
    assert f"{len(kind.valid) - 20} more problem(s) not shown" in text
