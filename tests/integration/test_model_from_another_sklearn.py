"""A model saved with another scikit-learn (1.7.x, made here in an environment of its own) goes
through the README's steps: the check refuses it naming the one command that fixes it,
``pin-function`` builds the function for it, and the main job serves it, realtime and batch,
with exactly the answers ``model.predict`` gives in its own environment. Also: a failing
``make lock`` or ``make setup`` leaves the locks and the working environment as they were."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ops.modelfiles.versions import PROJECT_ROOT
from tests.integration.test_own_model_main_job import (
    copy_environment,
    copy_project,
    records,
    run_main_job,
)

pytestmark = pytest.mark.slow  # an environment of its own, and a function built for it

OTHER_SKLEARN = "1.7.2"
# what a model trained a year ago was plausibly saved with (wheels for the image's Python 3.12)
OTHER_ENVIRONMENT = (f"scikit-learn=={OTHER_SKLEARN}", "numpy==2.4.6", "scipy==1.17.1", "pandas")

TRAIN = """
import json, sys
import joblib, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
data = load_breast_cancer(as_frame=True)
x = data.data.iloc[:, :6].copy()
sizes = ["small", "medium", "large"]
x["size"] = pd.cut(x["mean area"], [0, 400, 800, 10_000], labels=sizes).astype(str)
numeric = list(x.columns[:6])
model = make_pipeline(
    ColumnTransformer([("num", StandardScaler(), numeric), ("cat", OneHotEncoder(), ["size"])]),
    HistGradientBoostingClassifier(max_iter=40, random_state=0),
).fit(x, data.target)
joblib.dump(model, sys.argv[1])
rows = x.sample(50, random_state=1)
rows.to_csv(sys.argv[2], index=False)
expected = {
    "predictions": model.predict(rows).tolist(),
    "probabilities": model.predict_proba(rows).tolist(),
}
json.dump(expected, open(sys.argv[3], "w"))
"""


def _run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, **options)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """GIVEN a model, 50 rows of real input and model.predict's answers for them, all made in
    an environment with scikit-learn 1.7.x (not the project's)."""
    folder = tmp_path_factory.mktemp("sklearn-17")
    venv = folder / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    python = str(venv / "bin" / "python")
    installed = _run([python, "-m", "pip", "install", "--quiet", *OTHER_ENVIRONMENT], timeout=900)
    assert installed.returncode == 0, installed.stderr[-2000:]
    paths = {"model": folder / "model.pkl", "rows": folder / "rows.csv"}
    paths["expected"] = folder / "expected.json"
    trained = _run([python, "-c", TRAIN, *map(str, paths.values())])
    assert trained.returncode == 0, trained.stderr[-2000:]
    return paths


def test_a_model_from_scikit_learn_1_7_is_served_by_following_the_readme(
    other_model: dict[str, Path], tmp_path: Path
) -> None:
    root = copy_project(tmp_path / "project")
    env = copy_environment(root)
    ops = [sys.executable, "-m", "ops"]
    # GIVEN a stage serving a model of the project's own scikit-learn (the demo)
    for step in (("train-demo",), ("deploy", "--yes"), ("upload-model",)):
        done = _run([*ops, *step], cwd=root, env=env, timeout=900)
        assert done.returncode == 0, (step, done.stdout[-1500:], done.stderr[-1500:])
    live_before = _status(ops, root, env)["model_version"]
    # AND the user's model, saved with scikit-learn 1.7, where the README says
    (root / "models" / "mejor_modelo.pkl").write_bytes(other_model["model"].read_bytes())
    # WHEN the model is checked: refused (exit 2), naming the command that serves it
    checked = _run([*ops, "check-model"], cwd=root, env=env)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert f"saved with scikit-learn {OTHER_SKLEARN}" in checked.stdout
    assert "python -m ops pin-function models/mejor_modelo.pkl" in checked.stdout
    # AND following it: the function is pinned to the model's version, its lock hashed
    pinned = _run([*ops, "pin-function", "models/mejor_modelo.pkl"], cwd=root, env=env, timeout=900)
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    lock = (root / "lambda" / "requirements.lock").read_text()
    assert f"scikit-learn=={OTHER_SKLEARN} \\" in lock and "--hash=sha256:" in lock
    rows = str(other_model["rows"])
    assert _run([*ops, "check-model", "--rows", rows], cwd=root, env=env).returncode == 0
    # AND a redeploy leaves the live model where it is served (the new code cannot load it),
    # and says so
    redeployed = _run([*ops, "deploy", "--yes"], cwd=root, env=env, timeout=900)
    assert redeployed.returncode == 0, redeployed.stderr[-2000:]
    assert f"the function now runs {OTHER_SKLEARN}" in redeployed.stdout
    assert "(built before) keeps serving it" in redeployed.stdout
    assert _status(ops, root, env)["model_version"] == live_before
    # AND the main job (make run) passes with the user's rows, the stage kept for more calls
    run = tmp_path / "run"
    done = run_main_job(root, env, run, f"ROWS={rows}", teardown=False)
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        uploaded = records(run / "02_upload_model.ipynb")
        manifest = next(r for r in uploaded if r["type"] == "ModelManifest")
        assert manifest["sklearn_version"] == OTHER_SKLEARN
        comparisons = [r for r in records(run / "03_test.ipynb") if r["type"] == "Comparison"]
        assert [c["all_match"] for c in comparisons] == [True, True]
        # THEN realtime and batch answers equal model.predict's in its own environment, exactly
        expected = json.loads(other_model["expected"].read_text())
        realtime = _run([*ops, "predict", "--file", rows, "--json"], cwd=root, env=env)
        assert realtime.returncode == 0, realtime.stderr
        answer = json.loads(realtime.stdout)
        assert list(answer["predictions"]) == expected["predictions"]
        assert [list(p) for p in answer["probabilities"]] == expected["probabilities"]
        batch = _run([*ops, "run-batch", rows, "--json"], cwd=root, env=env, timeout=600)
        assert batch.returncode == 0, batch.stderr
        results = json.loads(batch.stdout)["results"]
        assert [r["prediction"] for r in results] == expected["predictions"]
        # AND pinning back to the project's version restores the project's own files
        assert _run([*ops, "train-demo"], cwd=root, env=env).returncode == 0
        back = _run([*ops, "pin-function"], cwd=root, env=env, timeout=900)
        assert back.returncode == 0, back.stderr
        for name in ("requirements.txt", "requirements.lock"):
            restored = (root / "lambda" / name).read_text()
            assert restored == (PROJECT_ROOT / "lambda" / name).read_text(), name
    finally:
        _run([*ops, "local", "stop"], cwd=root, env=env)


def _status(ops: list[str], root: Path, env: dict[str, str]) -> dict[str, Any]:
    done = _run([*ops, "status", "--json"], cwd=root, env=env)
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _digests(root: Path) -> dict[str, str]:
    files = ("lambda/requirements.lock", "requirements/constraints.txt", "requirements/checkov.txt")
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files}


def test_a_failing_make_lock_leaves_every_lock_as_it_was(tmp_path: Path) -> None:
    # GIVEN the function pinned by hand to a scikit-learn the project's environment does not have
    root = copy_project(tmp_path)
    requirements = root / "lambda" / "requirements.txt"
    text = requirements.read_text()
    requirements.write_text(
        "\n".join(
            f"scikit-learn=={OTHER_SKLEARN}" if line.startswith("scikit-learn==") else line
            for line in text.splitlines()
        )
        + "\n"
    )
    before = _digests(root)
    venv = Path(sys.executable).parents[1]
    # WHEN make lock runs (its set-up taken as done) THEN it fails, saying what to use instead
    done = _run(["make", "-o", "setup", "lock", f"VENV={venv}"], cwd=root, timeout=600)
    assert done.returncode != 0
    assert "pin-function" in done.stderr
    # AND every lock file is as it was, none half written
    assert _digests(root) == before
    assert not (root / ".lock-new").exists()


def test_make_setup_stops_before_clearing_an_environment_when_the_pins_disagree(
    tmp_path: Path,
) -> None:
    # GIVEN a working environment (a stand-in folder with the project's uv) and pins that cannot
    # resolve together (pyproject.toml asks for another scikit-learn than the constraints)
    root = copy_project(tmp_path / "project")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        re.sub(r'"scikit-learn==[^"]+"', f'"scikit-learn=={OTHER_SKLEARN}"', pyproject.read_text())
    )
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "uv").symlink_to(Path(sys.executable).parent / "uv")
    (venv / "kept").write_text("my work")
    # WHEN make setup runs
    done = _run(["make", "setup", f"VENV={venv}"], cwd=root, timeout=600)
    # THEN it stops before clearing anything, naming the files whose pins disagree
    assert done.returncode != 0
    assert "requirements/constraints.txt" in done.stdout + done.stderr
    assert (venv / "kept").read_text() == "my work"
    assert root != PROJECT_ROOT
