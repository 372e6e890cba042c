"""The handler over a real moto server: realtime answers, bad input answered, faults typed."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pytest

from reintento_function.inference_errors import ModelIntegrityError, ModelUnavailableError
from tests.lambda_handler.conftest import Context, ModelBucket


def test_realtime_predictions_equal_model_predict(
    handler_env: Any,
    model_bucket: ModelBucket,
    demo_bytes: bytes,
    demo_estimator: Any,
    rows_1000: list[dict[str, Any]],
) -> None:
    # GIVEN the demo model uploaded with its checksum
    version = model_bucket.put(demo_bytes)
    # WHEN 1,000 rows are sent through the handler
    answer = handler_env.handler({"instances": rows_1000}, Context())
    # THEN the predictions equal model.predict and the answer names the model version
    assert answer["predictions"] == demo_estimator.predict(pd.DataFrame(rows_1000)).tolist()
    assert answer["model"]["version_id"] == version
    assert len(answer["model"]["sha256"]) == 12


def test_api_style_body_and_non_json_body(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes, rows_1000: list[dict[str, Any]]
) -> None:
    model_bucket.put(demo_bytes)
    ok = handler_env.handler({"body": json.dumps({"instances": rows_1000[:2]})}, Context())
    assert len(ok["predictions"]) == 2
    bad = handler_env.handler({"body": "{not json"}, Context())
    assert bad["error"]["type"] == "InvalidInput"
    assert "not valid JSON" in bad["error"]["message"]
    wrong = handler_env.handler({"rows": []}, Context())
    assert wrong["error"]["details"][0]["field"] == "instances"


def test_bad_input_is_answered_and_the_next_request_is_warm(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes, rows_1000: list[dict[str, Any]]
) -> None:
    model_bucket.put(demo_bytes)
    bad = handler_env.handler({"instances": [{"latencia_ms": "x"}]}, Context())
    assert bad["error"]["type"] == "InvalidInput"
    loads = handler_env._state["cache"].loads
    good = handler_env.handler({"instances": rows_1000[:1]}, Context())
    assert "predictions" in good
    assert handler_env._state["cache"].loads == loads  # served by the cached model


def test_missing_model_raises_a_typed_fault(handler_env: Any) -> None:
    with pytest.raises(ModelUnavailableError):
        handler_env.handler({"instances": [{}]}, Context())


def test_describe_before_any_upload_is_an_answer_not_a_fault(handler_env: Any) -> None:
    # GIVEN a fresh deploy: no model uploaded yet (AWS parity II, item 4: status asking which
    # model serves must not count as a function error and trip the errors alarm)
    # WHEN asked which model it serves  THEN it answers "no model yet", it does not raise
    answer = handler_env.handler({"describe_model": {}}, Context())
    assert answer["model"] is None
    assert "upload" in answer["no_model"]
    assert answer["features"] == [] and answer["classes"] is None
    # AND a prediction is still a typed fault (a caller must not get an empty success)
    with pytest.raises(ModelUnavailableError):
        handler_env.handler({"instances": [{}]}, Context())


def test_corrupted_model_raises_integrity_error(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes
) -> None:
    model_bucket.put(demo_bytes, sha256="f" * 64)
    with pytest.raises(ModelIntegrityError):
        handler_env.handler({"instances": [{}]}, Context())


RUN = "20261128T120000-0123abcd"
IN_KEY = f"batch/{RUN}/input/part-000000500.jsonl"
OUT_KEY = f"batch/{RUN}/output/part-000000500.jsonl"


def test_batch_slice_writes_one_record_per_row(
    handler_env: Any,
    moto_server: Any,
    model_bucket: ModelBucket,
    demo_bytes: bytes,
    rows_1000: list[dict[str, Any]],
    demo_estimator: Any,
) -> None:
    # GIVEN a slice of 50 rows with 2 bad lines in the batch bucket
    model_bucket.put(demo_bytes)
    s3 = model_bucket.s3
    lines = [json.dumps(r) for r in rows_1000[:50]]
    lines[3] = "{broken"
    lines[10] = json.dumps({**rows_1000[10], "region": "mars"})
    s3.put_object(Bucket=model_bucket.bucket, Key=IN_KEY, Body="\n".join(lines))
    model_bucket.ticket(RUN, rows=550, slice_rows=50)
    event = {
        "batch_slice": {
            "bucket": model_bucket.bucket,
            "input_key": IN_KEY,
            "output_key": OUT_KEY,
            "first_row": 500,
            "rows": 50,
        }
    }
    # WHEN the handler predicts it
    result = handler_env.handler(event, Context())
    # THEN 48 succeed, 2 fail, and the output has 50 records in order
    assert (result["rows"], result["succeeded"], result["failed"]) == (50, 48, 2)
    written = s3.get_object(Bucket=model_bucket.bucket, Key=OUT_KEY)
    records = [json.loads(x) for x in written["Body"].read().decode().splitlines()]
    assert [r["row"] for r in records] == list(range(500, 550))
    # AND the output names the model version that predicted it (ops checks one served all)
    # and the slice's counts, so a batch left in S3 is counted without reading its results
    assert written["Metadata"] == {
        "model-version": result["model"]["version_id"],
        "rows": "50",
        "failed": "2",
    }
    assert [r["row"] for r in records if "error" in r] == [503, 510]
    valid = [r for i, r in enumerate(rows_1000[:50]) if i not in (3, 10)]
    assert [r["prediction"] for r in records if "error" not in r] == demo_estimator.predict(
        pd.DataFrame(valid)
    ).tolist()


PARQUET_IN = f"batch/{RUN}/input/part-000000500.parquet"
PARQUET_OUT = f"batch/{RUN}/output/part-000000500.parquet"


def test_a_parquet_slice_is_predicted_column_by_column_with_one_result_per_row(
    handler_env: Any,
    moto_server: Any,
    model_bucket: ModelBucket,
    demo_bytes: bytes,
    rows_1000: list[dict[str, Any]],
    demo_estimator: Any,
) -> None:
    # GIVEN a Parquet slice of 50 rows, 2 of them invalid (an unknown category, an infinity)
    model_bucket.put(demo_bytes)
    s3 = model_bucket.s3
    frame = pd.DataFrame(rows_1000[:50])
    frame.loc[10, "region"] = "mars"
    frame.loc[20, "latencia_ms"] = float("inf")
    s3.put_object(Bucket=model_bucket.bucket, Key=PARQUET_IN, Body=frame.to_parquet(index=False))
    model_bucket.ticket(RUN, rows=550, slice_rows=50, slice_format="parquet")
    event = {
        "batch_slice": {
            "bucket": model_bucket.bucket,
            "input_key": PARQUET_IN,
            "output_key": PARQUET_OUT,
            "first_row": 500,
            "rows": 50,
        }
    }
    # WHEN the handler predicts it
    result = handler_env.handler(event, Context())
    # THEN its results are a Parquet table with one row per input row, in order
    assert (result["rows"], result["succeeded"], result["failed"]) == (50, 48, 2)
    written = s3.get_object(Bucket=model_bucket.bucket, Key=PARQUET_OUT)
    assert written["Metadata"]["rows"] == "50" and written["Metadata"]["failed"] == "2"
    results = pd.read_parquet(io.BytesIO(written["Body"].read()))
    assert results["row"].tolist() == list(range(500, 550))
    assert list(results.columns) == ["row", "prediction", "p_0", "p_1", "error_type", "error"]
    # AND the invalid rows carry their error, naming the field and the problem
    errors = results[results["error_type"].notna()]
    assert errors["row"].tolist() == [510, 520]
    assert set(errors["error_type"]) == {"InvalidInput"}
    assert errors["error"].iloc[0].startswith("region: unknown category 'mars'")
    assert errors["error"].iloc[1] == (
        "latencia_ms: not a finite number (NaN/Infinity are not allowed)"
    )
    # AND the others are the model's own predictions and probabilities
    valid = frame.drop(index=[10, 20])
    predicted = results[results["error_type"].isna()]
    assert predicted["prediction"].tolist() == demo_estimator.predict(valid).tolist()
    expected = demo_estimator.predict_proba(valid)
    assert (abs(predicted[["p_0", "p_1"]].to_numpy() - expected) < 1e-12).all()


def test_describe_model_checks_for_a_new_version_now(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes, monkeypatch: Any
) -> None:
    # GIVEN a function that served version 1 and refreshes only every hour
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "3600")
    v1 = model_bucket.put(demo_bytes)
    assert handler_env.handler({"describe_model": {}}, Context())["model"]["version_id"] == v1
    # WHEN version 2 is uploaded and the model is described
    v2 = model_bucket.put(demo_bytes)
    described = handler_env.handler({"describe_model": {}}, Context())
    # THEN it answers with version 2 at once, and says what input it expects
    assert described["model"]["version_id"] == v2
    assert [f["name"] for f in described["features"]][:2] == ["latencia_ms", "intentos_previos"]
    assert described["classes"] == [0, 1]


def test_a_refused_request_is_counted_per_version_and_per_function(
    handler_env: Any,
    model_bucket: ModelBucket,
    demo_bytes: bytes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """#36: the stage's invalid-request alarm reads the refusals per function (whatever
    version answered); a rollout compares them per version."""
    from reintento_function import contract

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    model_bucket.put(demo_bytes)
    capsys.readouterr()
    # WHEN a request is refused
    handler_env.handler({"instances": [{"latencia_ms": "x"}]}, Context())
    documents = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]
    # THEN the refusal is counted under the version's and under the function's dimensions
    counted = {
        tuple(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])
        for d in documents
        if contract.INVALID_REQUESTS_METRIC in d
    }
    assert (*contract.VERSION_DIMENSIONS, "service") in counted, counted
    assert (*contract.ALARM_DIMENSIONS, "service") in counted, counted
