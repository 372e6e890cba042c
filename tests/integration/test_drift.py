"""Drift: the function counts how the rows it answers compare with the model's training profile,
``ops.drift()`` reads the counts back per feature, and the drift alarm fires and notifies.

The model takes categories it never saw (its one-hot encoder ignores them), so a row with an
unseen category is answered and counted, not refused. Its profile is made from its training
data. The integration target evaluates alarms every second (the cadence only).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

import ops
from ops.modelfiles.profile import QUANTILE_LEVELS
from ops.targets import target_for
from tests.integration.conftest import until
from tests.model_kinds import ignore_unknown_pipeline, mixed_training_frame

KIND = ignore_unknown_pipeline()
IN_PROFILE = [r for r in KIND.valid if r.get("city") != "cusco"][:40]


def _until(check: Callable[[], Any], seconds: float = 40.0) -> Any:
    return until(check, seconds)


def _serving(
    local_settings: ops.Settings, tmp_path_factory: pytest.TempPathFactory, stage: str
) -> tuple[ops.Settings, Any, str, Path]:
    """A stage with alarm notices (to a queue), serving the model profiled from its training
    data: its settings, the queue's client and URL, the model's manifest."""
    s = ops.Settings.resolve(
        local_settings, stage=stage, context={"alarm_email": "oncall@example.com"}
    )
    ops.deploy(approve_security_changes=True, settings=s)
    path: Path = tmp_path_factory.mktemp(stage) / "model.pkl"
    joblib.dump(KIND.model, path)
    ops.profile_model(path, rows=mixed_training_frame())
    ops.upload_model(path, settings=s)
    target = target_for(s)
    sqs, sns = target.client("sqs"), target.client("sns")
    url = sqs.create_queue(QueueName=f"{stage}-notices")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=target.outputs.alarm_topic, Protocol="sqs", Endpoint=arn)
    return s, sqs, url, path.with_suffix(".json")


@pytest.fixture(scope="module")
def drifting(local_settings: ops.Settings, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """GIVEN a stage with alarm notices, serving a model profiled from its training data."""
    return _serving(local_settings, tmp_path_factory, "drift")


def _notices(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in got]


def _drift_alarm(settings: ops.Settings) -> dict[str, Any]:
    cw = target_for(settings).client("cloudwatch")
    alarms = cw.describe_alarms(AlarmNamePrefix=settings.service_stack_name)["MetricAlarms"]
    return next(a for a in alarms if "InputDrift" in a["AlarmName"])


def test_rows_like_the_training_data_show_no_drift_and_the_alarm_stays_ok(drifting: Any) -> None:
    settings = drifting[0]
    # WHEN rows like the training data are sent
    for _ in range(3):
        ops.predict(IN_PROFILE, settings=settings)
    # THEN every row is compared with the profile, and no feature drifted
    report = _until(lambda: (r := ops.drift(settings=settings)).rows >= 120 and r)
    assert isinstance(report, ops.DriftReport) and report.rows == 120, report
    assert report.drifted == (), report
    assert {f.name for f in report.features} == {"age", "income", "city", "plan"}
    assert all(f.out_of_range == 0 and f.unseen == 0 for f in report.features), report.table()
    # AND the drift alarm is OK
    assert _until(lambda: _drift_alarm(settings)["StateValue"] == "OK")


def test_a_shifted_feature_and_an_unseen_category_are_named_and_the_alarm_fires(
    drifting: Any,
) -> None:
    settings, sqs, url, _ = drifting
    # WHEN rows with age far above its training range and a city the training never had come
    shifted = [{**r, "age": 500.0, "city": "cusco"} for r in IN_PROFILE[:10]]
    for _ in range(5):
        answer = ops.predict(shifted, settings=settings)
        assert len(answer.predictions) == 10  # answered, not refused
    # THEN ops.drift names both features, with their counts against the training reference
    report = _until(lambda: (r := ops.drift(settings=settings)).rows >= 170 and r)
    assert report, ops.drift(settings=settings)
    assert report.rows == 170, report
    assert set(report.drifted) == {"age", "city"}, report.table()
    by_name = {f.name: f for f in report.features}
    assert by_name["age"].out_of_range == 50 and by_name["city"].unseen == 50
    assert "outside the training range" in str(report)
    assert by_name["age"].training.high is not None and by_name["age"].training.high < 500
    table = report.table()
    assert list(table.loc[table["drifted"], "feature"]) == ["age", "city"]
    # AND the drift alarm goes to ALARM, and its notice arrives
    alarm = _until(lambda: (a := _drift_alarm(settings))["StateValue"] == "ALARM" and a)
    assert alarm, _drift_alarm(settings)

    found = _until(lambda: _notices(sqs, url))
    assert any(n["AlarmName"] == alarm["AlarmName"] for n in found), found


def test_a_batch_s_rows_are_counted_too(drifting: Any) -> None:
    settings = drifting[0]
    before = ops.drift(settings=settings)
    # WHEN a batch of rows with income below anything seen in training runs
    rows = [{**r, "income": -5.0} for r in IN_PROFILE[:30]]
    result = ops.run_batch(rows, progress=False, settings=settings)
    assert isinstance(result, ops.BatchResult) and result.failed == 0
    # THEN its rows are counted with the realtime ones, and income is named
    report = _until(lambda: (r := ops.drift(settings=settings)).rows >= before.rows + 30 and r)
    assert report, ops.drift(settings=settings)
    assert report.rows == before.rows + 30, report
    income = next(f for f in report.features if f.name == "income")
    assert income.out_of_range == 30 and "income" in report.drifted


def test_batches_alone_keep_the_alarm_ok_or_fire_it(
    local_settings: ops.Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN a stage that serves no realtime call at all
    settings, sqs, url, _ = _serving(local_settings, tmp_path_factory, "driftbatch")
    # WHEN a batch of rows like the training data runs (drawn from it: its distribution)
    like = mixed_training_frame().sample(2_000, replace=True, random_state=5)
    calm = ops.run_batch(like, progress=False, download=False, settings=settings)
    # THEN its report names no feature, and the drift alarm settles in OK
    assert ops.drift(batch=calm, settings=settings).drifted == ()
    assert _until(lambda: _drift_alarm(settings)["StateValue"] == "OK")
    # WHEN a batch with age beyond its training range and an unseen city runs
    moved = like.assign(age=500.0, city="cusco")
    shifted = ops.run_batch(moved, progress=False, download=False, settings=settings)
    # THEN its report names both, the alarm goes to ALARM and its notice arrives
    assert set(ops.drift(batch=shifted, settings=settings).drifted) == {"age", "city"}
    alarm = _until(lambda: (a := _drift_alarm(settings))["StateValue"] == "ALARM" and a)
    assert alarm, _drift_alarm(settings)
    found = _until(lambda: _notices(sqs, url))
    assert any(n["AlarmName"] == alarm["AlarmName"] for n in found), found


def test_a_function_version_is_asked_by_its_number(drifting: Any) -> None:
    settings = drifting[0]
    live = ops.drift(settings=settings)
    same = ops.drift(version=live.function_version, settings=settings)
    assert (same.rows, same.drifted) == (live.rows, live.drifted)
    with pytest.raises(ops.ConfigurationError, match="function version"):
        ops.drift(version="live", settings=settings)


@pytest.mark.slow  # a 100,000-row batch
def test_a_batch_s_drift_report_is_what_pandas_computes(
    drifting: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = drifting[0]
    # GIVEN 100,000 rows like the training data, but older people and a city never seen
    rng = np.random.default_rng(11)
    frame = mixed_training_frame().sample(100_000, replace=True, random_state=11)
    frame = frame.reset_index(drop=True)
    frame.loc[rng.random(len(frame)) < 0.5, "age"] += 25.0
    frame.loc[rng.random(len(frame)) < 0.05, "city"] = "cusco"
    # WHEN they run as a batch
    result = ops.run_batch(frame, progress=False, download=False, settings=settings)
    assert isinstance(result, ops.BatchResult) and result.failed == 0
    report = ops.drift(batch=result, settings=settings)
    # THEN the report compares every row with the profile, as pandas does here
    manifest = json.loads(drifting[3].read_text())
    profile = {f["name"]: f for f in manifest["profile"]["features"]}
    assert report.rows == 100_000
    by_name = {f.name: f for f in report.features}
    for name in ("age", "income"):
        expected, actual, outside, nulls = _numeric_reference(profile[name], frame[name])
        got = by_name[name]
        assert (got.out_of_range, got.nulls) == (outside, nulls), name
        assert got.psi == pytest.approx(_psi(expected, actual), rel=1e-9), name
    for name in ("city", "plan"):
        expected, actual, unseen, nulls = _categorical_reference(profile[name], frame[name])
        got = by_name[name]
        assert (got.unseen, got.nulls) == (unseen, nulls), name
        assert [round(a, 12) for _, _, a in got.bins] == [round(a, 12) for a in actual]
        assert got.psi == pytest.approx(_psi(expected, actual), rel=1e-9), name
    # AND the shifted features are the drifted ones, the others not
    assert set(report.drifted) == {"age", "city"}, report.table()
    assert by_name["income"].psi is not None and by_name["income"].psi < 0.01


def _psi(expected: list[float], actual: list[float]) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), 1e-4)
    a = np.maximum(np.asarray(actual, dtype=float), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_reference(
    feature: dict[str, Any], column: pd.Series
) -> tuple[list[float], list[float], int, int]:
    """Training shares of the bins between the profile's quantiles (a tie's bin starts at its
    first level), the batch's shares of the same bins (left-closed, the last closed) and of
    the values below and above, the count outside and the nulls."""
    levels = pd.Series(QUANTILE_LEVELS, index=feature["quantiles"]).groupby(level=0).min()
    edges = list(levels.index)
    first = list(levels.to_numpy())
    expected = [*np.diff(first[:-1]).tolist(), 1 - first[-2]]
    present = column.dropna()
    below, above = int((present < edges[0]).sum()), int((present > edges[-1]).sum())
    inside = present[(present >= edges[0]) & (present <= edges[-1])]
    counts = pd.cut(inside, edges, right=False).value_counts(sort=False).to_numpy()
    counts = counts.astype(float)
    counts[-1] += float((inside == edges[-1]).sum())
    actual = [*(counts / len(present)), below / len(present), above / len(present)]
    return [*expected, 0.0, 0.0], actual, below + above, int(column.isna().sum())


def _categorical_reference(
    feature: dict[str, Any], column: pd.Series
) -> tuple[list[float], list[float], int, int]:
    listed = [value for value, _ in feature["categories"]]
    present = column.dropna()
    shares = present.value_counts(normalize=True)
    kept = 1 - feature["null_share"]
    expected = [share / kept for _, share in feature["categories"]]
    expected.append(feature["other_share"] / kept)
    actual = [float(shares.get(value, 0.0)) for value in listed]
    actual.append(float(1 - sum(actual)))
    unseen = int((~present.isin(listed)).sum())
    return expected, actual, unseen, int(column.isna().sum())
