"""Drift: the function counts how the rows it answers compare with the model's training profile,
``ops.drift()`` reads the counts back per feature, and the drift alarm fires and notifies.

The model takes categories it never saw (its one-hot encoder ignores them), so a row with an
unseen category is answered and counted, not refused. Its profile is made from its training
data. The integration target evaluates alarms every second (the cadence only).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pytest

import ops
from ops.targets import target_for
from tests.model_kinds import ignore_unknown_pipeline, mixed_training_frame

KIND = ignore_unknown_pipeline()
IN_PROFILE = [r for r in KIND.valid if r.get("city") != "cusco"][:40]


def _until(check: Callable[[], Any], seconds: float = 40.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.fixture(scope="module")
def drifting(local_settings: ops.Settings, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """GIVEN a stage with alarm notices, serving a model profiled from its training data."""
    s = ops.Settings.resolve(
        local_settings, stage="drift", context={"alarm_email": "oncall@example.com"}
    )
    ops.deploy(approve_security_changes=True, settings=s)
    path: Path = tmp_path_factory.mktemp("drift") / "model.pkl"
    joblib.dump(KIND.model, path)
    ops.profile_model(path, rows=mixed_training_frame())
    ops.upload_model(path, settings=s)
    target = target_for(s)
    sqs, sns = target.client("sqs"), target.client("sns")
    url = sqs.create_queue(QueueName="drift-notices")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=target.outputs.alarm_topic, Protocol="sqs", Endpoint=arn)
    return s, sqs, url


def _drift_alarm(settings: ops.Settings) -> dict[str, Any]:
    cw = target_for(settings).client("cloudwatch")
    alarms = cw.describe_alarms(AlarmNamePrefix=settings.service_stack_name)["MetricAlarms"]
    return next(a for a in alarms if "InputDrift" in a["AlarmName"])


def test_rows_like_the_training_data_show_no_drift_and_the_alarm_stays_ok(drifting: Any) -> None:
    settings, _, _ = drifting
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
    settings, sqs, url = drifting
    # WHEN rows with age far above its training range and a city the training never had come
    shifted = [{**r, "age": 500.0, "city": "cusco"} for r in IN_PROFILE[:10]]
    for _ in range(5):
        answer = ops.predict(shifted, settings=settings)
        assert len(answer.predictions) == 10  # answered, not refused
    # THEN ops.drift names both features, with their counts against the training reference
    report = _until(lambda: (r := ops.drift(settings=settings)).rows >= 170 and r)
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

    def notices() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got]

    found = _until(notices)
    assert any(n["AlarmName"] == alarm["AlarmName"] for n in found), found


def test_a_batch_s_rows_are_counted_too(drifting: Any) -> None:
    settings, _, _ = drifting
    before = ops.drift(settings=settings)
    # WHEN a batch of rows with income below anything seen in training runs
    rows = [{**r, "income": -5.0} for r in IN_PROFILE[:30]]
    result = ops.run_batch(rows, progress=False, settings=settings)
    assert isinstance(result, ops.BatchResult) and result.failed == 0
    # THEN its rows are counted with the realtime ones, and income is named
    report = _until(lambda: (r := ops.drift(settings=settings)).rows >= before.rows + 30 and r)
    assert report.rows == before.rows + 30, report
    income = next(f for f in report.features if f.name == "income")
    assert income.out_of_range == 30 and "income" in report.drifted


def test_a_function_version_is_asked_by_its_number(drifting: Any) -> None:
    settings, _, _ = drifting
    live = ops.drift(settings=settings)
    same = ops.drift(version=live.function_version, settings=settings)
    assert (same.rows, same.drifted) == (live.rows, live.drifted)
    with pytest.raises(ops.ConfigurationError, match="function version"):
        ops.drift(version="live", settings=settings)
