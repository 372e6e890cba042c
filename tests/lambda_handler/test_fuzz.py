"""No client input raises: every event kind, fuzzed, gets an answer or a typed service error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.modelfiles.demo_model import CATEGORICAL, NUMERIC, sample_rows
from reintento_function.inference_errors import InferenceServiceError, InternalError
from tests.lambda_handler.conftest import Context, ModelBucket

FUZZ_EXAMPLES = 10_000

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(max_size=300)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FEATURES = [*NUMERIC, *CATEGORICAL]
feature_names = st.sampled_from([*FEATURES, "extra"])
model_like_rows = st.dictionaries(feature_names, json_values, max_size=len(FEATURES) + 1)
good_rows = st.builds(lambda seed: sample_rows(1, seed=seed)[0], st.integers(0, 10_000))
rows = st.one_of(good_rows, model_like_rows, json_values)
deep = st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)
bodies = st.one_of(
    st.text(max_size=200),
    deep,
    st.builds(lambda r: json.dumps({"instances": r}, allow_nan=True), st.lists(rows, max_size=5)),
)
run_ids = st.sampled_from(["20261128T120000-0123abcd", "../x", "a", "20261128T120000-0123abcd/.."])
keys = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda run, kind, name: f"batch/{run}/{kind}/{name}",
        run_ids,
        st.sampled_from(["input", "output", "x"]),
        st.sampled_from(
            ["part-000000000.jsonl", "part-000000000.parquet", "part-0.jsonl", "input/c"]
        ),
    ),
)
slice_items = st.fixed_dictionaries(
    {},
    optional={
        "bucket": st.one_of(st.just("BATCH"), st.text(max_size=20), json_values),
        "input_key": st.one_of(keys, json_values),
        "output_key": st.one_of(keys, json_values),
        "first_row": st.one_of(st.integers(), json_values),
        "rows": json_values,
        "probabilities": st.one_of(st.booleans(), json_values),
    },
)
events = st.one_of(
    st.fixed_dictionaries({"instances": st.one_of(st.lists(rows, max_size=6), json_values)}),
    st.fixed_dictionaries({"body": st.one_of(bodies, json_values)}),
    st.fixed_dictionaries({"batch_slice": st.one_of(slice_items, json_values)}),
    st.fixed_dictionaries({"describe_model": json_values}),
    json_values,
)


def _with_bucket(event: Any, bucket: str) -> Any:
    """Put the real batch bucket where the strategy says "BATCH" (so deeper checks are reached)."""
    item = event.get("batch_slice") if isinstance(event, dict) else None
    if isinstance(item, dict) and item.get("bucket") == "BATCH":
        item["bucket"] = bucket
    return event


@pytest.mark.slow
def test_no_event_raises_anything_but_a_typed_service_error(
    handler_env: Any,
    model_bucket: ModelBucket,
    demo_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the handler serving the demo model (loaded once, as in a warm environment)
    model_bucket.put(demo_bytes)
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "3600")
    assert "predictions" in handler_env.handler({"instances": sample_rows(1)}, Context())
    seen: dict[str, int] = {}

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(event=events)
    def run(event: Any) -> None:
        # WHEN any event reaches the handler
        try:
            answer = handler_env.handler(_with_bucket(event, model_bucket.bucket), Context())
        except InternalError:  # a generic error: some input reached code that did not expect it
            raise
        except InferenceServiceError as err:  # THEN a typed service error, naming no value...
            seen[type(err).__name__] = seen.get(type(err).__name__, 0) + 1
            return
        # ... or an answer that serializes as the runtime would send it
        assert isinstance(answer, dict)
        json.dumps(answer, allow_nan=True)
        kind = "error" if "error" in answer else "answer"
        if kind == "error" and answer["error"].get("type") == "WorkItemRefused":
            kind = "refused work item"  # answered as data: never a function error
        seen[kind] = seen.get(kind, 0) + 1

    run()
    print(f"fuzzed {FUZZ_EXAMPLES} events: {dict(sorted(seen.items()))}")
    assert seen.get("answer") and seen.get("error") and seen.get("refused work item")
