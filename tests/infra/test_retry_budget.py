"""A batch slice's retries fit the Express child's five minutes: otherwise Step Functions stops
the child before its Catch records anything, and the slice's rows come back missing
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html: an Express
execution's maximum duration is 5 minutes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import names
from infra.settings import StackSettings
from tests.infra.conftest import Synth, render

EXPRESS_LIMIT_SECONDS = 300
INIT_SECONDS = 10  # Lambda's Init phase, outside the timeout: each retry after a timeout is cold


def _predict_slice(synth: Synth) -> dict[str, Any]:
    raw = synth.raw(synth.settings.service_stack_name)
    (machine,) = [
        r
        for k, r in raw["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and k.startswith(names.BATCH_PIPELINE)
    ]
    definition = json.loads(render(machine["Properties"]["DefinitionString"]))
    processor = definition["States"]["PredictSlices"]["ItemProcessor"]
    return dict(processor["States"]["PredictSlice"])


def worst_case_seconds(retriers: list[dict[str, Any]], timeout_seconds: int) -> float:
    """The longest a slice's task can take with these retriers: every wait, plus the first try
    and every retry of the errors that take a whole invocation (a timeout) at the function's
    timeout, each after a cold start's Init; a not-Active refusal (Lambda.ResourceNotReady/
    Conflict) answers at once."""
    total = float(timeout_seconds + INIT_SECONDS)
    for retrier in retriers:
        attempts = int(retrier.get("MaxAttempts", 3))
        interval = float(retrier.get("IntervalSeconds", 1))
        backoff = float(retrier.get("BackoffRate", 2.0))
        total += sum(interval * backoff**i for i in range(attempts))
        if "Sandbox.Timedout" in retrier["ErrorEquals"]:
            total += attempts * (timeout_seconds + INIT_SECONDS)
    return total


def test_a_slices_retries_fit_the_express_limit(synth: Synth) -> None:
    retriers = _predict_slice(synth)["Retry"]
    # GIVEN the synthesized retriers and the largest timeout the settings accept
    largest = max(t for t in range(1, 901) if _accepted(t))
    # THEN the worst case, with the catch's own write (a few seconds) left, is under 5 minutes
    assert worst_case_seconds(retriers, synth.settings.timeout_seconds) < EXPRESS_LIMIT_SECONDS
    assert worst_case_seconds(retriers, largest) <= EXPRESS_LIMIT_SECONDS - 10


def _accepted(timeout_seconds: int) -> bool:
    try:
        StackSettings(timeout_seconds=timeout_seconds)
    except ValueError:
        return False
    return True


def test_a_timeout_the_batch_cannot_retry_within_five_minutes_is_refused() -> None:
    with pytest.raises(ValueError, match=r"timeout_seconds.*5 minutes"):
        StackSettings(timeout_seconds=120)
