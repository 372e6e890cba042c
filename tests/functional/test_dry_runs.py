"""Every verb's dry run: the plan it shows, for each target and each branch, with no call made
and nothing started (the network is cut; see conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import ops
from ops.aws.cloudformation import StackResource
from ops.modelfiles.demo_model import DemoModel
from ops.teardown import listing
from reintento_function import contract

TARGETS = ("local", "aws")

VERBS: dict[str, Callable[[ops.Settings, Path], Any]] = {
    "deploy": lambda s, m: ops.deploy(dry_run=True, settings=s),
    "upload_model": lambda s, m: ops.upload_model(m, dry_run=True, settings=s),
    "list_models": lambda s, m: ops.list_models(dry_run=True, settings=s),
    "rollback_model": lambda s, m: ops.rollback_model(dry_run=True, settings=s),
    "predict": lambda s, m: ops.predict(ops.sample_rows(3), dry_run=True, settings=s),
    "run_batch": lambda s, m: ops.run_batch(ops.sample_rows(50), dry_run=True, settings=s),
    "status": lambda s, m: ops.status(dry_run=True, settings=s),
    "metrics": lambda s, m: ops.metrics(dry_run=True, settings=s),
    "logs": lambda s, m: ops.logs(dry_run=True, settings=s),
    "drift": lambda s, m: ops.drift(dry_run=True, settings=s),
}


@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_s_dry_run_names_its_target_and_calls_nothing(
    verb: str, kind: str, settings_of: Any, demo_model: DemoModel
) -> None:
    # WHEN the verb is dry-run on a target nothing was deployed to, with the network cut
    plan = VERBS[verb](settings_of(kind), demo_model.path)
    # THEN it answers a plan of its own, for that target, with its steps in words
    assert isinstance(plan, ops.Plan)
    assert (plan.verb, plan.target) == (verb, kind)
    assert plan.steps and all(isinstance(s, str) and s for s in plan.steps)
    assert str(plan).startswith(f"Dry run of {verb} on the {kind} target; it would:")
    # (the fixtures then check that no connection was attempted and nothing was started)


@pytest.mark.parametrize(
    ("rollout", "percent", "expected"),
    [
        ("all-at-once", 10.0, "move every call to it at once"),
        ("canary", 20.0, "canary: send 20% of the calls to it for 5 min"),
        ("linear", 25.0, "linear: send 25%, then 50%, then 75% of the calls to it for 5 min"),
    ],
)
def test_an_upload_plan_says_how_the_calls_move(
    rollout: str, percent: float, expected: str, settings_of: Any, demo_model: DemoModel
) -> None:
    plan = ops.upload_model(
        demo_model.path,
        rollout=rollout,
        percent=percent,
        bake_minutes=5,
        dry_run=True,
        settings=settings_of("local", stage="qa", model_key="models/other.pkl"),
    )
    assert any(step.startswith(expected) for step in plan.steps), plan.steps
    # AND it names what would be uploaded, where: the file's size and sha256, the stage's key
    size = demo_model.path.stat().st_size
    assert f"{size:,} bytes" in plan.steps[0]
    assert "models/other.pkl" in plan.steps[0]
    assert re.search(r"sha256 [0-9a-f]{12}", plan.steps[0])


@pytest.mark.parametrize("wait", [True, False])
def test_the_upload_and_rollback_plans_say_whether_they_wait(
    wait: bool, settings_of: Any, demo_model: DemoModel
) -> None:
    s = settings_of("local")
    upload = ops.upload_model(demo_model.path, wait=wait, dry_run=True, settings=s)
    rollback = ops.rollback_model(wait=wait, dry_run=True, settings=s)
    assert ("wait until the function serves the new version" in upload.steps) is wait
    assert ("not wait for the function" in upload.steps) is not wait
    assert any(step.startswith("wait until") for step in rollback.steps) is wait


@pytest.mark.parametrize(
    ("rows", "slice_rows", "slices"), [(50, None, 1), (2500, 1000, 3), (2500, 2500, 1), (7, 1, 7)]
)
def test_a_batch_plan_cuts_the_rows_into_the_slices_it_says(
    rows: int, slice_rows: int | None, slices: int, settings_of: Any
) -> None:
    plan = ops.run_batch(
        ops.sample_rows(rows), slice_rows=slice_rows, dry_run=True, settings=settings_of("aws")
    )
    assert f"cut {rows:,} rows into {slices} jsonl slice(s)" in plan.steps[0]
    # AND the prefixes it names are the contract's, for one new run id
    run_ids = set(re.findall(r"batch/([^/]+)/", " ".join(plan.steps)))
    assert len(run_ids) == 1
    (run_id,) = run_ids
    assert contract.batch_prefix(run_id, "input") in plan.steps[1]
    assert contract.manifest_key(run_id) in plan.steps[1]
    assert contract.batch_prefix(run_id, "output") in plan.steps[3]


def test_a_batch_plan_reads_a_file_s_rows_and_says_what_it_brings_back(
    settings_of: Any, tmp_path: Path
) -> None:
    csv = tmp_path / "rows.csv"
    pd.DataFrame(ops.sample_rows(120)).to_csv(csv, index=False)
    kept = ops.run_batch(csv, download=False, dry_run=True, settings=settings_of("local"))
    fetched = ops.run_batch(csv, dry_run=True, settings=settings_of("local"))
    assert "cut 120 rows" in kept.steps[0]
    assert kept.steps[3].startswith("count the results") and "(left there)" in kept.steps[3]
    assert fetched.steps[3].startswith("read one result per row back")


@pytest.mark.parametrize(
    ("kind", "how"),
    [("local", "CloudFormation change sets (local image build)"), ("aws", "CDK CLI")],
)
def test_a_deploy_plan_names_the_stacks_of_the_stage_and_how_they_are_built(
    kind: str, how: str, settings_of: Any
) -> None:
    plan = ops.deploy(dry_run=True, settings=settings_of(kind, stage="qa", region="eu-west-1"))
    deploying = next(step for step in plan.steps if step.startswith("deploy "))
    assert "Reintento-qa-ModelStore then Reintento-qa-Service in eu-west-1" in deploying
    assert how in deploying
    # AND only the AWS plan runs the read-only prechecks (the local one needs none)
    assert (plan.checks == ()) is (kind == "local")


@pytest.mark.parametrize("delete_model_bucket", [False, True])
def test_a_teardown_plan_lists_what_is_deleted_and_what_is_kept(
    delete_model_bucket: bool, settings_of: Any
) -> None:
    s = settings_of("local", stage="qa")
    resources = [
        StackResource("BatchBucket1", "AWS::S3::Bucket", "b-1"),
        StackResource("Fn1", "AWS::Lambda::Function", "f-1"),
    ]
    doomed, kept = listing(s, resources, delete_model_bucket)
    assert doomed[0] == "stack Reintento-qa-Service"
    assert "  AWS::Lambda::Function Fn1" in doomed
    assert "every object in the batch bucket" in doomed
    assert ("stack Reintento-qa-ModelStore" in doomed) is delete_model_bucket
    # AND what is kept is said: the model store, or (deleting it) the access logs' bucket
    assert any("access-log" in k for k in kept) is delete_model_bucket
    assert any("model bucket with its versions" in k for k in kept) is not delete_model_bucket
