"""A model is live when ops says so: the served model version is pinned in the function's
configuration (a published function version behind the `live` alias), so after upload_model or
rollback_model returns, every warm environment answers with it; a batch uses one version."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

import ops
from ops.modelfiles.demo_model import DemoModel, save_demo_model

CLIENTS = 8
REQUESTS = 200


@pytest.fixture(scope="module")
def live_stage(local_settings: ops.Settings, demo_model: DemoModel) -> ops.Settings:
    s = ops.Settings.resolve(
        target="local",
        local_port=local_settings.local_port,
        state_dir=local_settings.state_dir,
        stage="live",
    )
    ops.deploy(approve_security_changes=True, settings=s)
    ops.upload_model(demo_model.path, settings=s)
    return s


def _answers(settings: ops.Settings) -> Counter[str]:
    """200 consecutive requests from 8 concurrent clients: which model version answered each."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    rows = ops.sample_rows(2, seed=3)

    def client(n: int) -> None:
        for _ in range(n):
            try:
                answer = ops.predict(rows, settings=settings)
                version = answer.model_version
            except ops.OpsError as err:
                version = f"error: {type(err).__name__}"
            with lock:
                seen[version] += 1

    threads = [threading.Thread(target=client, args=(REQUESTS // CLIENTS,)) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_after_upload_and_rollback_every_request_gets_the_reported_version(
    live_stage: ops.Settings, tmp_path: Path
) -> None:
    # GIVEN warm environments serving the first model (8 clients warm them all)
    first = ops.list_models(settings=live_stage)[0].version_id
    assert set(_answers(live_stage)) == {first}
    # WHEN another model is uploaded (its bytes differ: another seed)
    other = save_demo_model(tmp_path / "other.pkl", n_rows=3000)
    upload = ops.upload_model(other.path, settings=live_stage)
    assert upload.live and upload.version_id != first
    # THEN right after it returns, all 200 requests are answered by the version it reported
    after_upload = _answers(live_stage)
    assert after_upload == Counter({upload.version_id: REQUESTS}), after_upload
    # AND after a rollback, all 200 by the version it restored, with no re-upload
    versions_before = len(ops.list_models(settings=live_stage))
    rolled = ops.rollback_model(settings=live_stage)
    assert rolled.restored_version == first and rolled.live
    after_rollback = _answers(live_stage)
    assert after_rollback == Counter({first: REQUESTS}), after_rollback
    assert len(ops.list_models(settings=live_stage)) == versions_before


def test_a_redeploy_keeps_the_live_model(live_stage: ops.Settings) -> None:
    live = ops.status(settings=live_stage).model_version
    ops.deploy(
        context={"model_refresh_seconds": 61}, approve_security_changes=True, settings=live_stage
    )
    assert ops.status(settings=live_stage).model_version == live
    assert set(_answers(live_stage)) == {live}


def test_a_batch_uses_one_model_version_while_a_new_one_is_uploaded(
    live_stage: ops.Settings, demo_model: DemoModel, tmp_path: Path
) -> None:
    # GIVEN a batch of many slices running
    live = ops.status(settings=live_stage).model_version
    results: list[ops.BatchResult] = []
    rows = ops.sample_rows(24_000, seed=9)
    batch = threading.Thread(
        target=lambda: results.append(
            ops.run_batch(rows, slice_rows=500, progress=False, settings=live_stage)
        )
    )
    batch.start()
    # WHEN a new model is uploaded while it runs
    newer = save_demo_model(tmp_path / "newer.pkl", n_rows=2500)
    upload = ops.upload_model(newer.path, settings=live_stage)
    batch.join()
    # THEN every slice of the batch reports the same model version, the one live at its start
    (result,) = results
    assert result.failed == 0 and result.slices == 48
    assert result.model_versions == (live,), result.model_versions
    assert upload.version_id != live
