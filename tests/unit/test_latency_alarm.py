"""The realtime latency alarm's threshold is taken from what the stage measured (pure rules)."""

from __future__ import annotations

from ops.service.latency_alarm import MIN_CALLS, Measured, derive


def test_a_new_stage_keeps_the_timeout_share_until_it_has_calls_to_measure() -> None:
    for seen in (Measured(), Measured(40.0, MIN_CALLS - 1)):
        threshold = derive(seen, 30, None)
        assert threshold.ms == 24000 and not threshold.measured
        assert "fewer than the 100" in threshold.origin and "deploy again" in threshold.origin


def test_a_measured_p99_sets_the_threshold_far_under_the_timeout() -> None:
    # a 40 ms model: three times its p99 would be 120 ms, at least 100 ms above it: 140 ms
    fast = derive(Measured(40.0, 2_310), 30, 24000.0)
    assert fast.measured and fast.ms == 140.0
    assert "3x the realtime p99 of 40.0 ms over 2,310 calls" in fast.origin
    # a 900 ms model: three times its p99
    assert derive(Measured(900.0, 500), 30, None).ms == 2700.0
    # a model slower than the timeout allows: capped at 80% of it, and said
    slow = derive(Measured(9000.0, 500), 30, None)
    assert slow.measured and slow.ms == 24000 and "is over it" in slow.origin


def test_a_deployed_threshold_is_kept_while_the_measure_stays_close() -> None:
    # a redeploy that measures about the same changes nothing in the stack
    steady = derive(Measured(42.0, 5_000), 30, 140.0)
    assert steady.ms == 140.0 and steady.origin.startswith("kept: within 25% of measured")
    # a real change moves it
    assert derive(Measured(400.0, 5_000), 30, 140.0).ms == 1200.0


def test_a_latency_that_cannot_be_measured_never_loosens_the_deployed_threshold() -> None:
    for seen in (Measured(error="AccessDenied"), Measured(40.0, 3)):
        kept = derive(seen, 30, 140.0)
        assert kept.ms == 140.0 and kept.measured and kept.origin.startswith("kept (")
    assert (
        "could not be read: AccessDenied"
        in derive(Measured(error="AccessDenied"), 30, 140.0).origin
    )
