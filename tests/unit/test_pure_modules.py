"""Pure code of ops, tested without any target: payloads, batch layout, cost, settings, error
mapping, REPORT lines, the Dockerfile and assembly readers, the CLI parser."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import ops
from ops.cli import build_parser
from ops.cost import batch_transform_cost, estimate_cost, prices
from ops.errors import ConfigurationError, FunctionTimeoutError, ModelNotUploadedError
from ops.inputs.batch_io import (
    MAX_JSONL_SLICE_ROWS,
    MAX_SLICES,
    MEMORY_SHARE,
    MIN_SLICE_BYTES,
    MIN_SLICE_ROWS,
    assemble,
    plan_slices,
    read_lines,
    slice_rows_for,
)
from ops.inputs.payloads import non_finite_cells, to_rows
from ops.observe import parse_report, percentile, summarize_reports
from ops.service.function import function_error, invoke
from ops.settings import Settings
from reintento_function import contract
from reintento_local.images import parse_dockerfile

RUN = "20261128T120000-0123abcd"


def test_rows_from_every_input_shape() -> None:
    frame = pd.DataFrame({"a": [1.0, math.nan], "b": ["x", None]})
    assert to_rows(frame) == [{"a": 1.0, "b": "x"}, {"a": None, "b": None}]
    assert to_rows({"a": 1}) == [{"a": 1}]
    assert to_rows(np.array([[1, 2]])) == [[1, 2]]
    assert to_rows([{"a": 1}, [2]]) == [{"a": 1}, [2]]
    with pytest.raises(ConfigurationError, match="rows must be"):
        to_rows(42)
    found = non_finite_cells([{"a": math.inf}, [1.0, math.nan]])
    assert [(f["row"], f["field"]) for f in found] == [(0, "a"), (1, "1")]


def test_slice_sizes_stay_within_bounds() -> None:
    # a slice is never so small that its fixed costs dominate: at least MIN_SLICE_BYTES of rows
    assert slice_rows_for(10, row_bytes=100) == MIN_SLICE_BYTES // 100
    assert slice_rows_for(10, row_bytes=10_000) == MIN_SLICE_ROWS
    # about 16 slices when the rows allow it
    assert slice_rows_for(1_000_000, row_bytes=100) == math.ceil(1_000_000 / 16)
    # never near the function's memory: wider rows, fewer of them per slice
    most = int(1024 * 2**20 * MEMORY_SHARE / 2_000)
    assert slice_rows_for(100_000_000, row_bytes=2_000, memory_mb=1024) == most
    assert slice_rows_for(100_000_000, row_bytes=2_000, memory_mb=4096) == 4 * most
    # JSON lines are checked row by row: their slices stay small
    assert slice_rows_for(1_000_000, row_bytes=200, slice_format="jsonl") == MAX_JSONL_SLICE_ROWS
    # and a batch never has more than MAX_SLICES slices
    assert slice_rows_for(10**10, row_bytes=100) == 10**10 // MAX_SLICES
    slices = plan_slices(1_050, RUN, 500)
    assert [(s.first_row, s.rows) for s in slices] == [(0, 500), (500, 500), (1000, 50)]
    assert slices[1].input_key == f"batch/{RUN}/input/part-000000500.parquet"
    lines = plan_slices(1_050, RUN, 500, "jsonl")
    assert lines[1].input_key == f"batch/{RUN}/input/part-000000500.jsonl"
    assert slices[1].output_key == contract.batch_key(RUN, "output", 500)


def test_assemble_has_one_row_per_input_row_even_for_failed_slices() -> None:
    slices = plan_slices(4, RUN, 2)
    records = [{"row": 0, "prediction": 1}, {"row": 1, "error": {"type": "InvalidInput"}}]
    failed = [{"input_key": slices[1].input_key, "error": {"Error": "Runtime.ExitError"}}]
    table = assemble(4, records, failed, slices, [0, 1])
    assert len(table) == 4 and list(table["row"]) == [0, 1, 2, 3]
    assert table["error_type"].notna().tolist() == [False, True, True, True]


def test_read_lines_refuses_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no rows file"):
        read_lines(tmp_path / "nope.csv")
    (tmp_path / "rows.txt").write_text("x")
    with pytest.raises(ConfigurationError, match=r"\.csv, \.parquet or \.jsonl"):
        read_lines(tmp_path / "rows.txt")
    (tmp_path / "rows.csv").write_text("a,b\n1,x\n")
    assert [json.loads(line) for line in read_lines(tmp_path / "rows.csv")] == [{"a": 1, "b": "x"}]


def test_cost_grows_with_use_and_arm_is_cheaper() -> None:
    small, large = estimate_cost(1_000), estimate_cost(100_000)
    assert 0 < small.total_usd < large.total_usd
    arm = estimate_cost(100_000, architecture="arm64")
    assert arm.total_usd < large.total_usd
    batch = estimate_cost(0, batch_rows=1_000_000)
    assert batch.by_service()["Step Functions"] > 0 and batch.by_service()["S3"] > 0


def test_batch_transform_bills_instance_time_per_second() -> None:
    # GIVEN 1M rows at 10,000 rows/s on one ml.m5.large: 100 s of instance time
    one = batch_transform_cost(1_000_000, 10_000.0)
    assert one.lines[0].quantity == pytest.approx(100 / 3600)
    assert one.total_usd == pytest.approx(100 / 3600 * prices.SAGEMAKER_ML_M5_LARGE_HOUR, abs=1e-6)
    # THEN two instances halve the time, not the bill; billed start-up is added per instance
    two = batch_transform_cost(1_000_000, 10_000.0, instance_count=2, billed_overhead_s=60.0)
    assert two.lines[0].quantity == pytest.approx(2 * (50 + 60) / 3600)
    assert batch_transform_cost(0, 10_000.0).total_usd == 0
    # AND a rate of zero is refused by name, with the range
    with pytest.raises(ConfigurationError, match="rows_per_second"):
        batch_transform_cost(10, 0.0)


def test_settings_explicit_beats_environment_beats_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REINTENTO_STAGE", "envstage")
    monkeypatch.delenv("REINTENTO_TARGET", raising=False)
    assert Settings.resolve().stage == "envstage"
    assert Settings.resolve(stage="given").stage == "given"
    assert Settings.resolve().target == "local"
    resolved = Settings.resolve(stage="p", stack_prefix="X")
    assert resolved.service_stack_name == "X-p-Service"
    assert resolved.model_stack_name == "X-p-ModelStore"
    with pytest.raises(ConfigurationError, match="target must be"):
        Settings.resolve(target="gcp")
    monkeypatch.setenv("REINTENTO_LOCAL_PORT", "not-a-port")
    with pytest.raises(ConfigurationError, match="REINTENTO_LOCAL_PORT"):
        Settings.resolve()


class _FakeLambda:
    """A Lambda client that answers one canned payload (pure mapping tests, no server)."""

    def __init__(self, payload: Any, function_error: str | None = None) -> None:
        self.payload, self.error = payload, function_error

    def invoke(self, **_: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.error:
            answer["FunctionError"] = self.error
        return answer


def test_error_mapping_of_function_answers() -> None:
    with pytest.raises(ModelNotUploadedError, match="no model to serve"):
        invoke(
            _FakeLambda({"errorType": "ModelUnavailableError", "errorMessage": "m"}, "U"), "f", {}
        )
    assert isinstance(function_error({"errorType": "Sandbox.Timedout"}), FunctionTimeoutError)
    other = function_error({"errorType": "BatchSliceError", "errorMessage": "bad"})
    assert other.error_type == "BatchSliceError" and "bad" in str(other)
    refused = {"error": {"type": "InvalidInput", "message": "m", "details": [{"row": 0}]}}
    with pytest.raises(ops.InvalidInputError) as caught:
        invoke(_FakeLambda(refused), "f", {})
    assert caught.value.details == [{"row": 0}]
    ok = invoke(_FakeLambda({"predictions": [1]}), "f", {"instances": [{}]})
    assert ok.body == {"predictions": [1]}
    with pytest.raises(ops.PayloadTooLargeError):
        invoke(_FakeLambda({}), "f", {"x": "y" * (6 * 1024 * 1024)})


def test_report_lines_parse_and_summarize() -> None:
    cold = parse_report(
        "REPORT RequestId: r1\tDuration: 10.50 ms\tBilled Duration: 11 ms\tMemory Size: 1024 MB"
        "\tMax Memory Used: 200 MB\tInit Duration: 1500.00 ms"
    )
    warm = parse_report(
        "REPORT RequestId: r2\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMemory Size: 1024 MB"
        "\tMax Memory Used: 201 MB"
    )
    assert cold is not None and cold.cold and cold.init_ms == 1500.0
    assert warm is not None and not warm.cold and warm.billed_ms == 5
    assert parse_report("START RequestId: r3") is None
    summary = summarize_reports([cold, warm])
    assert (summary.invocations, summary.cold_starts) == (2, 1)
    # nearest rank: a percentile is always one of the measured values
    values = [float(v) for v in range(1, 102)]
    assert (percentile(values, 0), percentile(values, 50), percentile(values, 99)) == (1, 51, 100)
    assert percentile([], 99) == 0.0


def test_dockerfile_reader(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        'FROM base\nENV A=1 B="two words"\nCOPY app.py lib ${LAMBDA_TASK_ROOT}/\n'
        "COPY pkg/ ${LAMBDA_TASK_ROOT}/pkg/\n"
        'CMD ["app.handler"]\n'
    )
    parsed = parse_dockerfile(dockerfile)
    assert parsed.cmd == ["app.handler"]
    assert parsed.env == {"A": "1", "B": "two words"}
    # only what lands in the task root itself is importable at the top level; a package keeps
    # its name (its folder is not put on the path)
    assert parsed.copied_dirs == ["app.py", "lib"]
    real = parse_dockerfile(Path(contract.__file__).parents[1] / "Dockerfile")
    assert real.cmd == ["reintento_function.lambda_predict_reintento.handler"]
    assert "reintento_function/" not in real.copied_dirs


def test_cli_parser_knows_every_verb_and_refuses_unknown_flags() -> None:
    parser = build_parser()
    args = parser.parse_args(["deploy", "--yes", "-c", "memory_mb=2048"])
    assert args.yes and args.context == ["memory_mb=2048"]
    args = parser.parse_args(["teardown", "--confirm", "X", "--delete-model-bucket"])
    assert args.confirm == "X" and args.delete_model_bucket
    with pytest.raises(Exception, match="unrecognized arguments: --stge"):
        parser.parse_args(["predict", "--rows", "{}", "--stge", "prod"])


def test_the_region_follows_the_aws_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile thesis]\nregion = sa-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for var in ("REINTENTO_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    # the profile's region before the built-in default...
    assert Settings.resolve(profile="thesis").region == "sa-east-1"
    monkeypatch.setenv("AWS_PROFILE", "thesis")
    assert Settings.resolve().region == "sa-east-1"
    # ... after an explicit region or the environment's
    assert Settings.resolve(profile="thesis", region="eu-west-1").region == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert Settings.resolve().region == "us-west-2"
    # a profile without a region keeps the default
    monkeypatch.delenv("AWS_REGION")
    assert Settings.resolve(profile="other").region == "us-east-1"


def test_a_table_goes_as_parquet_and_rows_that_are_not_one_go_as_json_lines(
    tmp_path: Path,
) -> None:
    import pandas as pd

    from ops.inputs.batch_io import read_input, read_rows

    frame = pd.DataFrame({"a": [1.5, None], "b": ["x", "y"]})
    # a frame, a CSV, a Parquet file: a table
    frame.to_parquet(tmp_path / "rows.parquet", index=False)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    for data in (frame, tmp_path / "rows.parquet", tmp_path / "rows.csv"):
        rows = read_input(data)
        assert (rows.slice_format, rows.rows) == ("parquet", 2)
        back = pd.read_parquet(io.BytesIO(rows.slice_body(1, 1)))
        assert back.to_dict("records") == [{"a": None, "b": "y"}] or (
            back["b"].tolist() == ["y"] and back["a"].isna().all()
        )
    # a list of rows, a frame mixing numbers with a boolean or text: JSON lines
    assert read_input([{"a": 1}]).slice_format == "jsonl"
    assert read_input(pd.DataFrame({"a": [1.5, True]})).slice_format == "jsonl"
    assert read_input(pd.DataFrame({"a": [1.5, "x"]})).slice_format == "jsonl"
    # a Parquet file serves realtime requests too
    assert len(read_rows(tmp_path / "rows.parquet")) == 2
    # and a file named .parquet that is not one is refused, saying how to write one
    (tmp_path / "bad.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigurationError, match=r"not a readable Parquet file.*to_parquet"):
        read_input(tmp_path / "bad.parquet")
