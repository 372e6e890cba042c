"""Validation follows the model, through the deployed function on the local target.

Each model kind of tests/model_kinds.py is uploaded (signed, pinned, live) to its own stage and
served realtime and in a batch: every valid row gets exactly model.predict's answer, every
invalid row an error naming its field, and the function's describe-model answer reports per
feature what the model accepts, the same as the manifest written at upload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import pytest

import ops
from ops.modelfiles.manifest import build_manifest
from ops.service.function import describe_model
from ops.targets import target_for
from tests.model_kinds import ModelKind, model_kinds

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
    # GIVEN a model of this kind, uploaded and live
    path = tmp_path / "model.pkl"
    joblib.dump(kind.model, path)
    ops.upload_model(path, settings=kinds_stage)
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
