"""The columnar path (a Parquet slice, checked column by column) answers every row exactly as the
row-by-row path answers the same rows as JSON: the same predictions and probabilities, the same
rows refused with the same messages, for every model kind the function serves."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from reintento_function.columnar_slice import predict_frame, read_table, write_table
from reintento_function.frame_check import check_frame
from reintento_function.inference_core import describe_model, predict_records
from tests.model_kinds import ModelKind, model_kinds

pytestmark = pytest.mark.lambda_handler

KINDS = model_kinds()


def _error_text(record: dict[str, Any]) -> str | None:
    if "error" not in record:
        return None
    return "; ".join(f"{d['field']}: {d['problem']}" for d in record["error"]["details"])


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _predicted(model: Any, schema: Any, frame: pd.DataFrame, first: int, **kw: Any) -> Any:
    """The columnar path's results for a frame's rows, as a frame."""
    return predict_frame(model, schema, _table(frame), first, **kw).to_pandas()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_a_table_is_answered_as_its_rows_are_answered_one_by_one(kind: ModelKind) -> None:
    # GIVEN a model's valid rows and its invalid ones (those a table can carry: objects with
    # the model's keys), as JSON rows and as the table a client would send
    schema = describe_model(kind.model)
    rows = list(kind.valid)
    if schema.named:
        rows += [r for r, _ in kind.invalid if isinstance(r, dict) and set(r) == set(rows[0])]
    frame = pd.DataFrame(rows) if schema.named else pd.DataFrame(rows).add_prefix("x")
    # WHEN both paths answer them (the table through a Parquet round trip, as in S3)
    expected = predict_records(kind.model, schema, rows, 7)
    sent = _through_s3(frame)
    if sent is None:  # ops sends this table as JSON lines: the function answers row by row
        _answered_as_json_lines(kind, schema, frame, expected)
        return
    got = read_table(write_table(predict_frame(kind.model, schema, sent, 7))).to_pandas()
    # THEN there is one result per row, in order, and each is the same answer
    assert got["row"].tolist() == list(range(7, 7 + len(rows)))
    assert [_error_text(r) for r in expected] == [
        None if pd.isna(e) else e for e in got["error"].tolist()
    ]
    for record, (_, result) in zip(expected, got.iterrows(), strict=True):
        if "error" in record:
            assert pd.isna(result["prediction"]) and result["error_type"] == "InvalidInput"
            continue
        assert _same(record["prediction"], result["prediction"])
        for label, p in zip(schema.classes or (), record.get("probabilities", ()), strict=True):
            assert _same(p, result[f"p_{label}"])


def _parquet(frame: pd.DataFrame) -> bytes:
    return frame.to_parquet(index=False)


def _through_s3(frame: pd.DataFrame) -> pa.Table | None:
    """The table as the function reads it from the slice ops writes; None for a table Arrow
    cannot type faithfully (numbers and text, or numbers and booleans, in one column), which
    ops sends as JSON lines instead."""
    from ops.inputs.batch_io import read_input

    rows = read_input(frame)
    if rows.slice_format == "jsonl":
        return None
    return read_table(rows.slice_body(0, rows.rows))


def _answered_as_json_lines(
    kind: ModelKind, schema: Any, frame: pd.DataFrame, expected: list[dict[str, Any]]
) -> None:
    from ops.inputs.batch_io import read_input
    from reintento_function.batch_slice import predict_lines

    rows = read_input(frame)
    text = rows.slice_body(0, rows.rows).decode()
    got = predict_lines(text, kind.model, schema, 7)
    assert [r["row"] for r in got] == list(range(7, 7 + len(expected)))
    assert [_error_text(r) for r in got] == [_error_text(r) for r in expected]
    assert [r.get("prediction") for r in got] == [r.get("prediction") for r in expected]


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if describe_model(k.model).named], ids=lambda k: k.name
)
def test_typed_columns_take_the_column_check_not_the_row_by_row_one(kind: ModelKind) -> None:
    # GIVEN a named model's valid rows as a table
    schema = describe_model(kind.model)
    frame = read_table(_parquet(pd.DataFrame(kind.valid)))
    # THEN the column check judges them all at once (no row-by-row fallback), all valid
    check = check_frame(schema, frame)
    assert check is not None
    assert bool(check.ok.all())


def test_a_table_missing_a_column_or_with_an_extra_one_has_every_row_refused() -> None:
    # GIVEN a strict model and a table without one of its columns and with an unknown one
    kind = next(k for k in KINDS if describe_model(k.model).named)
    schema = describe_model(kind.model)
    frame = pd.DataFrame(kind.valid).drop(columns=[schema.feature_names[0]]).assign(extra=1.0)
    # WHEN it is predicted
    results = _predicted(kind.model, schema, frame, 0)
    # THEN every row is an error naming both, and none is lost
    assert len(results) == len(frame) and results["prediction"].isna().all()
    assert set(results["error"]) == {
        f"extra: unexpected feature; {schema.feature_names[0]}: missing"
    }


def test_an_unreadable_parquet_slice_is_a_slice_error() -> None:
    from reintento_function.inference_errors import BatchSliceError

    with pytest.raises(BatchSliceError, match="not a readable Parquet file"):
        read_table(b"PAR1 not really")


def test_labels_keep_their_type_in_every_result_slice_even_with_no_row_predicted() -> None:
    # GIVEN a classifier with integer labels and a slice whose every row is invalid
    kind = next(k for k in KINDS if k.name.startswith("one-hot encoder that learned missing"))
    schema = describe_model(kind.model)
    frame = pd.DataFrame([{**kind.valid[0], "plan": "gold"}] * 3)
    # WHEN it is written as a result slice
    import pyarrow.parquet as pq

    table = pq.read_table(
        pa_buffer(write_table(predict_frame(kind.model, schema, _table(frame), 0)))
    )
    # THEN its prediction column has the labels' type (a dataset of slices has one schema)
    assert str(table.schema.field("prediction").type) == "int64"
    assert table.column("prediction").null_count == 3
    assert np.isnan(table.column("p_0").to_numpy(zero_copy_only=False)).all() or (
        table.column("p_0").null_count == 3
    )


def pa_buffer(data: bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(data)


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if describe_model(k.model).classes], ids=lambda k: k.name
)
def test_labels_only_are_model_predict_and_carry_no_probabilities(kind: ModelKind) -> None:
    # GIVEN a classifier's valid rows as a table
    schema = describe_model(kind.model)
    frame = _through_s3(
        pd.DataFrame(kind.valid) if schema.named else pd.DataFrame(kind.valid).add_prefix("x")
    )
    assert frame is not None
    # WHEN they are predicted without probabilities
    results = predict_frame(kind.model, schema, frame, 0, probabilities=False).to_pandas()
    # THEN the labels are model.predict's, and no probability column is written
    assert results["prediction"].tolist() == kind.model.predict(kind.frame(kind.valid)).tolist()
    assert not [c for c in results.columns if c.startswith("p_")]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_rows_the_model_itself_refuses_are_found_and_the_others_still_predicted() -> None:
    # GIVEN a model that refuses some valid-looking rows (log of 0 is -inf, which the
    # regression refuses) and a table where 3 of 40 rows have that 0
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(3)
    train = pd.DataFrame({"a": rng.uniform(1, 5, 200), "b": rng.uniform(0, 1, 200)})
    model = make_pipeline(FunctionTransformer(np.log), LogisticRegression()).fit(
        train, (train["b"] > 0.5).astype(int)
    )
    frame = train.head(40).copy()
    frame.loc[[3, 17, 31], "b"] = 0.0
    schema = describe_model(model)
    # WHEN the table is predicted
    results = _predicted(model, schema, frame, 100)
    # THEN exactly those rows are refused, as the row-by-row path refuses them, and the other
    # 37 are the model's predictions
    expected = predict_records(model, schema, frame.to_dict("records"), 100)
    assert results["row"].tolist() == list(range(100, 140))
    refused = results[results["error_type"].notna()]
    assert refused["row"].tolist() == [103, 117, 131]
    assert refused["error"].tolist() == [_error_text(expected[i]) for i in (3, 17, 31)]
    kept = frame.drop(index=[3, 17, 31])
    assert results["prediction"].dropna().tolist() == model.predict(kept).tolist()


def test_pandas_reads_integer_labels_as_its_nullable_integers_in_every_slice() -> None:
    """Review of #30: result slices written from Arrow lost pandas' note of the labels' dtype,
    so pandas read integer labels as floats in a slice with a refused row and as int64 in one
    without. Both read as pandas' nullable Int64, as when the slices were written by pandas."""
    import io

    kind = next(k for k in KINDS if k.name.startswith("one-hot encoder that learned missing"))
    schema = describe_model(kind.model)
    valid = pd.DataFrame(kind.valid)
    with_a_refused_row = pd.concat([valid, pd.DataFrame([{**kind.valid[0], "plan": "gold"}])])
    for frame in (valid, with_a_refused_row):
        body = write_table(predict_frame(kind.model, schema, _table(frame), 0))
        read = pd.read_parquet(io.BytesIO(body))["prediction"]
        assert str(read.dtype) == "Int64"
        expected = kind.model.predict(kind.frame(kind.valid)).tolist()
        assert read.tolist()[: len(expected)] == expected
