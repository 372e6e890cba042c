"""Signed rollout history (issue "rollouts and batches nobody can steer", finding 1): a writer
of the model bucket without ``kms:Sign`` cannot choose which old model a rollback serves."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import ops
from ops.modelfiles.demo_model import save_demo_model
from ops.service.rollout import records_prefix
from ops.targets import target_for
from reintento_function import contract
from tests.integration.conftest import Deployed, role_client


def test_a_bucket_writer_cannot_make_a_rejected_canary_live_through_a_rollback(
    deployed: Deployed, tmp_path: Path
) -> None:
    # GIVEN a stage of its own: model M0, then A all at once, then a canary B the guardrails
    # rolled back (no traffic in its bake: fewer calls than the minimum to judge it)
    s = ops.Settings.resolve(deployed.settings, stage="signed")
    ops.deploy(approve_security_changes=True, settings=s)
    first = ops.upload_model(save_demo_model(tmp_path / "m0.pkl", n_rows=2900).path, settings=s)
    live = ops.upload_model(save_demo_model(tmp_path / "a.pkl", n_rows=3000).path, settings=s)
    canary = ops.upload_model(
        save_demo_model(tmp_path / "b.pkl", n_rows=3100).path,
        rollout="canary",
        percent=10,
        bake_minutes=0,
        settings=s,
    )
    assert isinstance(first, ops.UploadResult) and isinstance(live, ops.UploadResult)
    assert isinstance(canary, ops.UploadResult) and canary.rollout is not None
    assert not canary.rollout.promoted
    # AND each upload's signature binds its time, a serial above the last one's, the stage
    target = target_for(s)
    bucket = target.outputs.model_bucket
    bound = [
        target.client("s3").head_object(Bucket=bucket, Key=s.model_key, VersionId=v)["Metadata"]
        for v in (first.version_id, live.version_id, canary.version_id)
    ]
    serials = [int(m[contract.SERIAL_METADATA]) for m in bound]
    assert serials == sorted(set(serials)), serials  # each above the last
    assert {m[contract.STAGE_METADATA] for m in bound} == {"signed"}
    assert all(m[contract.UPLOADED_AT_METADATA] for m in bound)
    # AND a principal that may write the model bucket but not sign (the review's role)
    writer = role_client(
        deployed,
        "s3",
        f"bucket-writer-{uuid.uuid4().hex[:8]}",
        [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}],
    )
    # WHEN it writes a record saying A was promoted over B (so "the model before A" is B)
    forged = {
        "strategy": "all-at-once",
        "outcome": "promoted",
        "model_version": live.version_id,
        "function_version": live.function_version,
        "previous_model_version": canary.version_id,
        "previous_function_version": "1",
        "started": "2099-01-01T00:00:00.000000Z",
        "ended": "2099-01-01T00:00:01.000000Z",
        "who": "arn:aws:iam::123456789012:user/ops",
        "reason": "",
        "bake_minutes": 0.0,
        "steps": [],
    }
    key = records_prefix(s.model_key) + "2099-01-01T00:00:01.000000Z-promoted.json"
    writer.put_object(Bucket=bucket, Key=key, Body=json.dumps(forged).encode())
    # AND it writes junk over the signed record of A's upload (a newer version of its key, so
    # that record would no longer verify and "the model before A" would be unknown)
    s3 = target.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=records_prefix(s.model_key))["Contents"]
    a_key = next(
        o["Key"]
        for o in listed
        if o["Key"] != key
        and json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).get(
            "model_version"
        )
        == live.version_id
    )
    writer.put_object(Bucket=bucket, Key=a_key, Body=b"{}")
    # THEN a rollback serves the model a signed record shows live before A: M0, never B
    back = ops.rollback_model(settings=s)
    assert isinstance(back, ops.RollbackResult)
    assert back.restored_version == first.version_id != canary.version_id
    # AND the history ops shows holds no forged record
    assert all(
        not r.went_live or r.version_id != canary.version_id for r in ops.list_models(settings=s)
    )
    ops.teardown(s.service_stack_name, settings=s)
