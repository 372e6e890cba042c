"""A table travels as Parquet slices (the columnar path) on the local target, over HTTP: every
input row comes back once, in order, whatever happens to its row or its slice; results can stay
in S3; labels alone are model.predict's."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

import ops
from ops.modelfiles.demo_model import DemoModel
from ops.targets import target_for
from reintento_local import faults
from tests.integration.conftest import Deployed, crash_slices

pytestmark = pytest.mark.integration


def _rows(n: int, seed: int) -> pd.DataFrame:
    return pd.DataFrame(ops.sample_rows(n, seed=seed))


def test_a_parquet_file_with_some_invalid_rows_has_one_result_per_row(
    deployed: Deployed, demo_model: DemoModel, tmp_path: Path
) -> None:
    # GIVEN a Parquet file of 3,000 rows, three of them invalid in different ways
    frame = _rows(3_000, seed=21)
    frame.loc[5, "region"] = "mars"  # a category the model never learned
    frame.loc[1_500, "latencia_ms"] = np.inf
    frame.loc[2_999, "servicio"] = "s" * 300  # longer than a string may be
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path, index=False)
    # WHEN it runs as a batch, cut in slices of 1,000 rows
    result = ops.run_batch(path, slice_rows=1_000, progress=False, settings=deployed.settings)
    # THEN it went as Parquet slices and every row is accounted for, in order
    assert isinstance(result, ops.BatchResult) and result.results is not None
    assert all(key.endswith(".parquet") for key in result.result_keys)
    assert result.accounted_for and (result.rows, result.failed, result.slices) == (3_000, 3, 3)
    errors = result.errors()
    assert errors["row"].tolist() == [5, 1_500, 2_999]
    assert errors["error"].str.split(":").str[0].tolist() == ["region", "latencia_ms", "servicio"]
    # AND the other rows are the local model's own predictions and probabilities
    model = joblib.load(demo_model.path)
    valid = frame.drop(index=[5, 1_500, 2_999])
    predicted = result.results[result.results["error_type"].isna()]
    assert predicted["prediction"].tolist() == model.predict(valid).tolist()
    assert np.allclose(predicted[["p_0", "p_1"]].to_numpy(float), model.predict_proba(valid))
    assert len(result.model_versions) == 1


def test_results_left_in_s3_are_counted_and_readable_where_they_are(
    deployed: Deployed,
) -> None:
    # GIVEN a table with one invalid row
    frame = _rows(2_500, seed=22)
    frame.loc[8, "hora_del_dia"] = -np.inf
    # WHEN it runs with download=False
    result = ops.run_batch(
        frame, slice_rows=1_000, download=False, progress=False, settings=deployed.settings
    )
    # THEN nothing is downloaded, and the counts come from the result objects' metadata
    assert isinstance(result, ops.BatchResult) and result.results is None
    assert result.accounted_for and (result.rows, result.failed, result.counted) == (
        2_500,
        1,
        2_500,
    )
    assert "left in s3://" in str(result)
    with pytest.raises(ops.ConfigurationError, match="download=True"):
        result.errors()
    # AND the results are where it says, one Parquet object per slice, pandas-readable
    s3 = target_for(deployed.settings).client("s3")
    bucket = result.output_uri.removeprefix("s3://").split("/")[0]
    parts = [
        pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for key in result.result_keys
    ]
    table = pd.concat(parts, ignore_index=True)
    assert table["row"].tolist() == list(range(2_500))
    assert table.loc[table["error_type"].notna(), "row"].tolist() == [8]


def test_labels_only_are_what_model_predict_returns(
    deployed: Deployed, demo_model: DemoModel
) -> None:
    frame = _rows(1_200, seed=23)
    result = ops.run_batch(frame, probabilities=False, progress=False, settings=deployed.settings)
    assert isinstance(result, ops.BatchResult) and result.results is not None
    assert list(result.results.columns) == ["row", "prediction", "error_type", "error"]
    assert result.results["prediction"].tolist() == (
        joblib.load(demo_model.path).predict(frame).tolist()
    )


def test_a_table_arrow_cannot_type_goes_row_by_row_and_loses_nothing(
    deployed: Deployed,
) -> None:
    # GIVEN a frame whose numeric column holds a string and a boolean among numbers
    frame = _rows(600, seed=24).astype({"carga_servidor": object})
    frame.loc[3, "carga_servidor"] = "high"
    frame.loc[4, "carga_servidor"] = True
    # WHEN it runs as a batch
    result = ops.run_batch(frame, progress=False, settings=deployed.settings)
    # THEN it went as JSON lines, each bad cell refused as JSON refuses it, the rest predicted
    assert isinstance(result, ops.BatchResult) and result.results is not None
    assert all(key.endswith(".jsonl") for key in result.result_keys)
    assert result.accounted_for and result.errors()["row"].tolist() == [3, 4]
    assert result.errors()["error"].tolist() == [
        "carga_servidor: expected a number, got string",
        "carga_servidor: expected a number, got boolean",
    ]


def test_a_parquet_slice_the_platform_keeps_crashing_comes_back_as_error_rows(
    deployed: Deployed,
) -> None:
    # GIVEN one slice whose every attempt crashes the function (the first and its 3 retries)
    crash_slices(deployed.settings.state_dir)
    try:
        result = ops.run_batch(
            _rows(1_000, seed=25), slice_rows=1_000, progress=False, settings=deployed.settings
        )
    finally:
        faults.inject(deployed.settings.state_dir, [])
    # THEN its rows are error records naming the fault, none lost
    assert isinstance(result, ops.BatchResult) and result.results is not None
    assert (result.rows, result.failed, result.failed_slices) == (1_000, 1_000, 1)
    assert result.accounted_for
    assert set(result.results["error_type"]) == {"Runtime.ExitError"}
