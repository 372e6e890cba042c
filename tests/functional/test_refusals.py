"""Wrong arguments to a verb are refused before its first call: a typed error naming the
argument and the fix, with the network cut and nothing started (see conftest.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ops
from ops.modelfiles.demo_model import DemoModel
from reintento_function import contract

Call = Callable[[ops.Settings, Path, Path], Any]

# (what is wrong, the call, the error type, words its message must hold)
REFUSALS: list[tuple[str, Call, type[ops.OpsError], tuple[str, ...]]] = [
    (
        "an unknown rollout",
        lambda s, m, tmp: ops.upload_model(m, rollout="blue-green", settings=s),
        ops.ConfigurationError,
        ("rollout must be one of all-at-once, canary, linear", "'blue-green'"),
    ),
    (
        "a canary of 150%",
        lambda s, m, tmp: ops.upload_model(m, rollout="canary", percent=150, settings=s),
        ops.ConfigurationError,
        ("percent must be between 0 and 100", "e.g. percent=10"),
    ),
    (
        "a canary nobody watches",
        lambda s, m, tmp: ops.upload_model(m, rollout="canary", wait=False, settings=s),
        ops.ConfigurationError,
        ("needs wait=True", "rollout='all-at-once' with wait=False"),
    ),
    (
        "a negative bake",
        lambda s, m, tmp: ops.upload_model(m, rollout="linear", bake_minutes=-1, settings=s),
        ops.ConfigurationError,
        ("bake_minutes >= 0",),
    ),
    (
        "a rollout longer than its guard can wait",
        lambda s, m, tmp: ops.upload_model(
            m, rollout="linear", percent=10, bake_minutes=6 * 60, settings=s
        ),
        ops.ConfigurationError,
        ("9 steps of 360 min", f"{contract.GUARD_TIMEOUT_HOURS} h", "fewer steps"),
    ),
    (
        "an upload timeout below zero",
        lambda s, m, tmp: ops.upload_model(m, timeout=-1, settings=s),
        ops.ConfigurationError,
        ("timeout=-1", "seconds"),
    ),
    (
        "a rollback timeout that is not a number",
        lambda s, m, tmp: ops.rollback_model(timeout=math.nan, settings=s),
        ops.ConfigurationError,
        ("timeout=nan", "seconds"),
    ),
    (
        "a model file that is not there",
        lambda s, m, tmp: ops.upload_model(tmp / "none.pkl", settings=s),
        ops.ModelFileError,
        ("no model file at", "joblib.dump"),
    ),
    (
        "a file that is not a model",
        lambda s, m, tmp: ops.upload_model(_garbage(tmp), settings=s),
        ops.ModelFileError,
        ("cannot be unpickled", "upload a joblib file of a fitted scikit-learn model"),
    ),
    (
        "a batch of no rows",
        lambda s, m, tmp: ops.run_batch([], settings=s),
        ops.ConfigurationError,
        ("no rows", "at least one row"),
    ),
    (
        "a slice of no rows",
        lambda s, m, tmp: ops.run_batch(ops.sample_rows(3), slice_rows=0, settings=s),
        ops.ConfigurationError,
        ("slice_rows=0", "from 1 to"),
    ),
    (
        "a batch of a number",
        lambda s, m, tmp: ops.run_batch(42, settings=s),
        ops.ConfigurationError,
        ("rows must be a dict, a list of dicts or lists, or a DataFrame", "got int"),
    ),
    (
        "a batch file that is not there",
        lambda s, m, tmp: ops.run_batch(tmp / "nope.csv", settings=s),
        ops.ConfigurationError,
        ("no rows file at", "CSV/JSONL path"),
    ),
    (
        "a prediction of a string",
        lambda s, m, tmp: ops.predict("hello", settings=s),
        ops.ConfigurationError,
        ("rows must be a dict", "got str"),
    ),
    (
        "a prediction of no rows",
        lambda s, m, tmp: ops.predict([], settings=s),
        ops.InvalidInputError,
        ("'instances' is empty", "send at least one row", "instances: empty"),
    ),
    (
        "a prediction over the synchronous payload limit",
        lambda s, m, tmp: ops.predict([{"text": "x" * 7_000_000}], settings=s),
        ops.PayloadTooLargeError,
        ("over the 6,291,456-byte limit", "ops.run_batch"),
    ),
    (
        "a prediction with an infinite value",
        lambda s, m, tmp: ops.predict([{"a": 1.0}, {"a": math.inf}], settings=s),
        ops.InvalidInputError,
        ("1 of 2 rows are invalid", "fix them and resend"),
    ),
    (
        "a guardrail error rate over 1",
        lambda s, m, tmp: ops.Guardrails(max_error_rate=2),
        ops.ConfigurationError,
        ("max_error_rate=2", "from 0 to 1"),
    ),
    (
        "a guardrail agreement over 1",
        lambda s, m, tmp: ops.Guardrails(min_agreement=90),
        ops.ConfigurationError,
        ("min_agreement=90", "from 0 to 1", "0.9"),
    ),
    (
        "a negative guardrail count",
        lambda s, m, tmp: ops.Guardrails(min_invocations=-1),
        ops.ConfigurationError,
        ("min_invocations=-1", "whole number"),
    ),
    (
        "a p99 ratio of zero",
        lambda s, m, tmp: ops.Guardrails(max_p99_ratio=0),
        ops.ConfigurationError,
        ("max_p99_ratio=0",),
    ),
    (
        "a target that is not one",
        lambda s, m, tmp: ops.Settings.resolve(target="gcp"),
        ops.ConfigurationError,
        ("target must be 'local' or 'aws'", "REINTENTO_TARGET"),
    ),
    (
        "a stage that is not a name",
        lambda s, m, tmp: ops.Settings.resolve(stage="bad_stage!"),
        ops.ConfigurationError,
        ("stage='bad_stage!' is not a valid name", "e.g. dev"),
    ),
    (
        "a model key outside the bucket's models",
        lambda s, m, tmp: ops.Settings.resolve(model_key="batch/x.pkl"),
        ops.ConfigurationError,
        ("model_key='batch/x.pkl'", "e.g. models/mejor_modelo.pkl"),
    ),
]


def _garbage(folder: Path) -> Path:
    path = folder / "garbage.pkl"
    path.write_bytes(b"\x00\x01 not a pickle")
    return path


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [pytest.param(c, e, w, id=what) for what, c, e, w in REFUSALS],
)
@pytest.mark.parametrize("kind", ["local", "aws"])
def test_a_wrong_argument_is_refused_before_any_call(
    kind: str,
    call: Call,
    error: type[ops.OpsError],
    words: tuple[str, ...],
    settings_of: Any,
    demo_model: DemoModel,
    tmp_path: Path,
) -> None:
    # WHEN a verb is given one wrong argument, on a target nothing was deployed to
    with pytest.raises(error) as refused:
        call(settings_of(kind), demo_model.path, tmp_path)
    # THEN its error names what is wrong and what to do, in the user's terms
    message = str(refused.value)
    for word in words:
        assert word in message
    assert "Traceback" not in message
    # (and, the fixtures check, no connection was attempted and no local target started)


def test_a_bad_row_s_error_names_its_row_and_field(settings_of: Any) -> None:
    with pytest.raises(ops.InvalidInputError) as refused:
        ops.predict([{"a": 1.0}, {"a": 2.0, "b": -math.inf}], settings=settings_of("local"))
    (detail,) = refused.value.details
    assert detail[contract.DETAIL_ROW] == 1
    assert detail[contract.DETAIL_FIELD] == "b"
