"""CloudWatch Logs' FilterLogEvents quota as the local target rations it: 5 calls in any
one-second window, per account and Region (a clock is passed in: no sleeping, no timing)."""

from __future__ import annotations

from reintento_local.logs_ingestion import FILTER_LOG_EVENTS_PER_SECOND, RateQuota


def test_five_calls_a_second_then_throttled_until_the_window_moves() -> None:
    quota = RateQuota(FILTER_LOG_EVENTS_PER_SECOND)
    assert [quota.admit("k", 10.0 + i * 0.1) for i in range(7)] == [True] * 5 + [False] * 2
    assert quota.admit("k", 10.99) is False  # the first call is still within the second
    assert quota.admit("k", 11.0) is True  # now it is not
    assert quota.admit("other", 10.5) is True  # another account or Region has its own quota
