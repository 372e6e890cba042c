"""Property: for any batch, result rows = input rows, in order, each a prediction or an error.

The real pieces in process: ops cuts the slices, the handler's slice code predicts them
(garbage lines included), some slices fail as a whole, ops assembles the results.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.inputs.batch_io import assemble, plan_slices
from ops.modelfiles.demo_model import sample_rows
from reintento_function.batch_slice import predict_lines
from reintento_function.inference_core import describe_model

GOOD = sample_rows(50, seed=1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
row = st.one_of(
    st.sampled_from(GOOD),
    st.sampled_from(GOOD).flatmap(
        lambda r: st.fixed_dictionaries(
            {k: st.just(v) for k, v in r.items()} | {"region": json_values}
        )
    ),
    json_values,
)
line = st.one_of(
    row.map(lambda r: json.dumps(r)),
    st.text(max_size=30).filter(lambda t: t.strip() and "\n" not in t and "\r" not in t),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(line, min_size=1, max_size=120),
    slice_rows=st.integers(1, 40),
    failed=st.sets(st.integers(0, 200)),
)
def test_every_input_row_has_exactly_one_result_in_order(
    demo_estimator: Any, lines: list[str], slice_rows: int, failed: set[int]
) -> None:
    # GIVEN any lines (valid rows, bad rows, garbage) cut into slices, some failing whole
    schema = describe_model(demo_estimator)
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return
    slices = plan_slices(len(lines), "prop", slice_rows)
    records: list[dict[str, Any]] = []
    failed_slices = []
    for index, item in enumerate(slices):
        if index in failed:
            failed_slices.append(
                {"input_key": item.input_key, "error": {"Error": "Sandbox.Timedout", "Cause": "x"}}
            )
            continue
        text = "\n".join(lines[item.first_row : item.first_row + item.rows])
        records.extend(predict_lines(text, demo_estimator, schema, item.first_row))
    # WHEN the results are assembled
    frame = assemble(len(lines), records, failed_slices, slices, [0, 1])
    # THEN one row per input row, in order, each with a prediction or an error (never both)
    assert list(frame["row"]) == list(range(len(lines)))
    has_prediction = frame["prediction"].notna()
    has_error = frame["error_type"].notna()
    assert (has_prediction ^ has_error).all()
    for index in failed:
        if index < len(slices):
            item = slices[index]
            assert (
                frame.loc[item.first_row : item.first_row + item.rows - 1, "error_type"]
                == "Sandbox.Timedout"
            ).all()
