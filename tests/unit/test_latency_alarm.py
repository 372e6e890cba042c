"""The realtime latency alarm's threshold is taken from what the stage measured (pure rules)."""

from __future__ import annotations

from ops.service.latency_alarm import MIN_CALLS, derive


def test_a_new_stage_keeps_the_timeout_share_until_it_has_calls_to_measure() -> None:
    for p99, calls in ((None, 0), (40.0, MIN_CALLS - 1)):
        threshold = derive(p99, calls, 30)
        assert threshold.ms == 24000 and not threshold.measured
        assert "fewer than the 100" in threshold.origin and "deploy again" in threshold.origin


def test_a_measured_p99_sets_the_threshold_far_under_the_timeout() -> None:
    # a 40 ms model: three times its p99 would be 120 ms, at least 100 ms above it: 140 ms
    fast = derive(40.0, 2_310, 30)
    assert fast.measured and fast.ms == 140.0
    assert "3x the realtime p99 of 40.0 ms over 2,310 calls" in fast.origin
    # a 900 ms model: three times its p99
    assert derive(900.0, 500, 30).ms == 2700.0
    # a model slower than the timeout allows: capped at 80% of it, and said
    slow = derive(9000.0, 500, 30)
    assert slow.measured and slow.ms == 24000 and "leaves no room" in slow.origin
