"""Validation follows the model, through the deployed function on the local target.

Each model kind of tests/model_kinds.py is uploaded (signed, pinned, live) to its own stage and
served realtime and in a batch: every valid row gets exactly model.predict's answer, every
invalid row an error naming its field, and the function's describe-model answer reports per
feature what the model accepts, the same as the manifest written at upload.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import joblib
import pytest

import ops
from ops.modelfiles.manifest import build_manifest
from ops.service.function import describe_model
from ops.targets import target_for
from tests.model_kinds import ModelKind, model_kinds
from tests.unit.test_onnx_engine import EXPECTED

KINDS = model_kinds()

pytestmark = pytest.mark.slow  # one upload and one batch per model kind


@pytest.fixture(scope="module")
def kinds_stage(local_settings: ops.Settings) -> ops.Settings:
    s = ops.Settings.resolve(local_settings, stage="kinds")
    ops.deploy(approve_security_changes=True, settings=s)
    return s


def _fields(error: str) -> list[str]:
    return [part.split(":", 1)[0].strip() for part in error.split(";")]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_model_kind_through_the_deployed_function(
    kind: ModelKind, kinds_stage: ops.Settings, tmp_path: Path
) -> None:
    # GIVEN a model of this kind, uploaded and live, on the engine `auto` chooses for it (#30:
    # compiled to ONNX when that is exact, else scikit-learn, with the reason shown)
    path = tmp_path / "model.pkl"
    joblib.dump(kind.model, path)
    uploaded = ops.upload_model(path, settings=kinds_stage)
    engine, _ = EXPECTED[kind.name]
    assert uploaded.engine == engine, uploaded.engine_reason
    assert describe_model(target_for(kinds_stage)).model.engine == engine
    expected = kind.model.predict(kind.frame(kind.valid)).tolist()
    # WHEN its valid rows are sent realtime  THEN exactly model.predict's answer
    answer = ops.predict(kind.valid, settings=kinds_stage)
    assert list(answer.predictions) == expected
    # WHEN valid and invalid rows go through a batch
    rows: list[Any] = [*kind.valid, *[bad for bad, _ in kind.invalid]]
    result = ops.run_batch(rows, progress=False, settings=kinds_stage)
    assert isinstance(result, ops.BatchResult)
    # THEN one record per row: the valid ones predicted, each invalid one naming its field
    assert result.rows == len(rows) and result.failed == len(kind.invalid)
    assert result.results["prediction"].tolist()[: len(kind.valid)] == expected
    for n, (_, field) in enumerate(kind.invalid):
        record = result.results.iloc[len(kind.valid) + n]
        assert record["error_type"] == "InvalidInput"
        if field is not None:
            assert field in _fields(record["error"]), record["error"]
    # AND a realtime request with an invalid row is refused naming row and field
    bad, field = kind.invalid[0]
    with pytest.raises(ops.InvalidInputError) as refused:
        ops.predict([kind.valid[0], bad], settings=kinds_stage)
    assert {d["row"] for d in refused.value.details} == {1}
    if field is not None:
        assert field in [d["field"] for d in refused.value.details]
    # AND the function reports per feature what the model accepts, as the manifest does
    served = describe_model(target_for(kinds_stage))
    reported = [
        {"name": f.name, "kind": f.kind, "nullable": f.nullable, "categories": f.categories}
        for f in served.features
    ]
    manifest = build_manifest(path).features or []
    assert reported == [
        {**f, "categories": tuple(f["categories"]) if f["categories"] is not None else None}
        for f in manifest
    ]


def test_the_onnx_engine_serves_without_reading_the_pickle_or_importing_scikit_learn(
    kinds_stage: ops.Settings, tmp_path: Path
) -> None:
    """#30: when the compiled engine serves, the function reads no pickle and imports none of
    scikit-learn, SciPy, pandas or joblib (its "model loaded" log line names what it imported;
    an upload with engine="sklearn" shows the other side)."""
    kind = next(k for k in KINDS if k.name.startswith("one-hot encoder that learned missing"))
    path = tmp_path / "model.pkl"
    joblib.dump(kind.model, path)
    seen: dict[str, list[str]] = {}
    for engine in ("sklearn", "onnx"):
        # GIVEN the model uploaded for this engine (a new S3 version each time)
        uploaded = ops.upload_model(path, engine=engine, settings=kinds_stage)  # type: ignore[arg-type]
        assert uploaded.engine == engine, uploaded.engine_reason
        # WHEN it answers
        answer = ops.predict(kind.valid, settings=kinds_stage)
        assert list(answer.predictions) == kind.model.predict(kind.frame(kind.valid)).tolist()
        # THEN the environment that loaded it says which libraries it had imported
        for _ in range(30):
            loaded = [
                json.loads(e.message)
                for e in ops.logs(300, pattern="model loaded", settings=kinds_stage)
                if '"model loaded"' in e.message
            ]
            mine = [
                event
                for event in loaded
                if event["model"]["version_id"] == uploaded.version_id
                and event["model"]["engine"] == engine
            ]
            if mine:
                seen[engine] = mine[-1]["imported"]
                break
            time.sleep(1)
    assert set(seen) == {"sklearn", "onnx"}, seen
    assert "sklearn" in seen["sklearn"]  # the pickle path imports it
    assert seen["onnx"] == [], seen  # the compiled path: none of them
