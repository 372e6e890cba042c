"""Your own model through the main job: each model kind of tests/model_kinds.py (among them
models trained on three of scikit-learn's bundled real data sets: breast cancer, a binary
classifier with feature names; iris, a multiclass one with string labels; diabetes, a regressor)
is placed at ``models/mejor_modelo.pkl`` of a clean copy of the project, and the four notebooks run
as ``make run`` runs them (``python -m ops run-notebooks``, over HTTP on a local target), with no
data (synthetic rows, marked so) or with a ``ROWS`` file (those rows used): see ``RUNS``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest

from ops.display import RECORD_MIME
from ops.modelfiles.versions import PROJECT_ROOT
from reintento_local.process import free_port
from tests.model_kinds import ModelKind, model_kinds

pytestmark = pytest.mark.slow  # the main job once per model kind

KINDS = model_kinds()
# small enough to keep the suite's time, big enough for several invalid rows and calls
PARAMETERS = (
    "BATCH_ROWS=600",
    "INVALID_EVERY=200",
    "LATENCY_CALLS=3",
    "SAMPLE_ROWS=5",
    "REHEARSE_ROLLOUT=False",
)
# notebook 02's rollout rehearsal (a bake each) for two kinds: one served by scikit-learn (no
# second engine to rehearse with), one compiled (a regressor: its agreement within a tolerance)
REHEARSED = (0, 3)


def copy_project(destination: Path) -> Path:
    """A clean copy of the project (its tracked files, no models, no runs), sharing the CDK
    CLI's node_modules."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = PROJECT_ROOT / name
        if name.startswith(("models/", "runs/")) or not source.is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    (destination / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    (destination / "models").mkdir(exist_ok=True)
    return destination


def copy_environment(project: Path) -> dict[str, str]:
    """The copy's own ops and function package first on the path, a private local target."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(project), str(project / "lambda"), str(project / "local_target")]
        ),
        "REINTENTO_LOCAL_PORT": str(free_port()),
        "REINTENTO_STATE_DIR": str(project / ".local-target"),
    }


def run_main_job(
    project: Path, env: dict[str, str], out: Path, *extra: str, teardown: bool = True
) -> subprocess.CompletedProcess[str]:
    parameters = [arg for p in (*PARAMETERS, *extra) for arg in ("-p", p)]
    command = [sys.executable, "-m", "ops", "run-notebooks", "--out", str(out), *parameters]
    if not teardown:
        command.append("--no-confirm-teardown")
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=1500, check=False
    )


def records(notebook: Path) -> list[dict[str, Any]]:
    """The values ``ops`` results recorded in an executed notebook, in order."""
    found = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(RECORD_MIME)
            if record:
                found.append(record)
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = copy_project(tmp_path_factory.mktemp("own-model"))
    env = copy_environment(root)
    yield root, env
    subprocess.run(
        [sys.executable, "-m", "ops", "local", "stop"], cwd=root, env=env, capture_output=True
    )


def _rows_file(kind: ModelKind, folder: Path) -> Path:
    """The kind's rows as a user keeps them: a CSV with one more column than the model takes (a
    label), or JSON lines for a model without feature names."""
    if isinstance(kind.valid[0], dict):
        path = folder / "my_rows.csv"
        pd.DataFrame(kind.valid).assign(label="kept out").to_csv(path, index=False)
    else:
        path = folder / "my_rows.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in kind.valid))
    return path


# (kind, with a ROWS file): every kind once, the two ways alternating; the one kind without
# feature names both ways, so each way has a binary classifier with names, a multiclass one, a
# regressor and a model without names
RUNS = [*((at, at % 2 == 1) for at in range(len(KINDS))), (7, False)]


@pytest.mark.parametrize(
    ("at", "with_rows"),
    RUNS,
    ids=[f"{KINDS[at].name}, {'ROWS file' if rows else 'no data'}" for at, rows in RUNS],
)
def test_your_own_model_runs_the_four_notebooks(
    at: int, with_rows: bool, project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = project
    kind = KINDS[at]
    # GIVEN the user's model saved where the quick start says (the manifest beside it, if any,
    # is the previous model's: stale)
    joblib.dump(kind.model, root / "models" / "mejor_modelo.pkl")
    extra = (f"ROWS={_rows_file(kind, tmp_path)}",) if with_rows else ()
    extra += ("REHEARSE_ROLLOUT=True",) if at in REHEARSED else ()
    # WHEN the main job runs (the last run tears the stage down, as make run does)
    last = (at, with_rows) == RUNS[-1]
    done = run_main_job(root, env, tmp_path / "run", *extra, teardown=last)
    # THEN all four notebooks pass
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all notebooks ran" in done.stdout
    upload = records(tmp_path / "run" / "02_upload_model.ipynb")
    shown = {r["type"]: r for r in upload}
    manifest = shown["ModelManifest"]
    # AND a compiled model's rollout is rehearsed: agreeing before traffic, promoted, rolled back
    uploaded = [r for r in upload if r["type"] == "UploadResult"]
    if at in REHEARSED and uploaded[0]["engine"] == "onnx":
        rehearsal = uploaded[1]["rollout"]
        assert (rehearsal["strategy"], rehearsal["outcome"]) == ("canary", "promoted")
        assert "agrees with the live version" in rehearsal["agreement"], rehearsal
        assert "(100%" in rehearsal["agreement"], rehearsal
        assert shown["RollbackResult"], "the rehearsal is rolled back"
    else:
        assert len(uploaded) == 1 and "RollbackResult" not in shown
    assert [at for at in REHEARSED if KINDS[at].name.startswith("histogram")], "a compiled one"
    features = (
        manifest["feature_names"]
        if manifest["feature_names"] is not None
        else [f"x{i}" for i in range(manifest["n_features"])]
    )
    test = records(tmp_path / "run" / "03_test.ipynb")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for record in test:
        by_type.setdefault(record["type"], []).append(record)
    # AND the rows are the user's file, or synthetic and marked so
    (rows,) = by_type["ModelRows"]
    assert rows["features"] == features
    assert rows["synthetic"] is (not with_rows)
    assert rows["source"] == ("file" if with_rows else "synthetic")
    # AND realtime and batch answers are model.predict's own (exact)
    realtime, in_batch = by_type["Comparison"]
    assert realtime["all_match"] and realtime["rows"] == 5
    assert in_batch["all_match"] and in_batch["rows"] == 600 - 3
    assert realtime["regressor"] is (manifest["classes"] is None)
    # AND the bad-input table names this model's own features
    (bad,) = by_type["BadInputAnswers"]
    assert bad["all_refused"] and bad["applicable"] >= 3
    named = {f for f in bad["fields"].values() if f not in ("not_a_feature", "instances", None)}
    assert named and named <= set(features)
    # AND every batch row is accounted for, the invalid ones as errors
    (batch,) = by_type["BatchResult"]
    assert batch["accounted_for"] and batch["failed"] == 3 and batch["rows"] == 600
