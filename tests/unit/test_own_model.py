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
