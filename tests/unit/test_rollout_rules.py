"""The rollout's pure rules: the steps of each strategy and when the guardrails are breached."""

from __future__ import annotations

import pytest

from ops.errors import ConfigurationError
from ops.service.rollout import Figures, Guardrails, breach, previous_live, too_little, weights

G = Guardrails()
CAP = 24_000.0


def test_each_strategy_has_its_steps() -> None:
    assert weights("all-at-once", 10) == ()
    assert weights("canary", 10) == (0.1,)
    assert weights("linear", 25) == (0.25, 0.5, 0.75)
    assert weights("linear", 30) == (0.3, 0.6, 0.9)


@pytest.mark.parametrize(
    ("strategy", "percent"), [("blue-green", 10), ("canary", 0), ("linear", 100)]
)
def test_a_wrong_rollout_is_refused_with_the_fix(strategy: str, percent: float) -> None:
    with pytest.raises(ConfigurationError) as refused:
        weights(strategy, percent)
    assert "rollout" in str(refused.value) or "percent" in str(refused.value)


def test_a_healthy_canary_breaches_nothing() -> None:
    old = Figures("1", 900, 0, 9, 12.0)
    new = Figures("2", 100, 0, 1, 13.0)
    assert breach(new, old, G, CAP) is None and too_little(new, G) is None


def test_function_errors_over_the_allowed_rate_roll_back() -> None:
    why = breach(Figures("2", 100, 2, 0, 10.0), Figures("1", 900, 0, 0, 10.0), G, CAP)
    assert why is not None and "failed 2 of 100" in why


def test_more_invalid_requests_than_the_old_version_roll_back() -> None:
    old = Figures("1", 900, 0, 18, 10.0)  # 2% invalid is normal traffic
    assert breach(Figures("2", 100, 0, 6, 10.0), old, G, CAP) is None  # 6%: within +5 points
    why = breach(Figures("2", 100, 0, 30, 10.0), old, G, CAP)
    assert why is not None and "refused 30 of 100" in why


def test_a_much_slower_version_rolls_back_but_noise_on_a_fast_one_does_not() -> None:
    old = Figures("1", 900, 0, 0, 10.0)
    assert breach(Figures("2", 100, 0, 0, 25.0), old, G, CAP) is None  # 2.5x but only +15 ms
    why = breach(Figures("2", 100, 0, 0, 50.0), old, G, CAP)
    assert why is not None and "5.0x" in why
    capped = breach(Figures("2", 100, 0, 0, 30_000.0), Figures("1", 0), G, CAP)
    assert capped is not None and "over 24000 ms" in capped


def test_too_little_traffic_is_not_a_verdict_of_health() -> None:
    assert too_little(Figures("2", 3), G) is not None
    assert too_little(Figures("2", 3), Guardrails(min_invocations=0)) is None


def test_rolling_back_walks_back_through_what_was_live() -> None:
    def rec(strategy: str, outcome: str, model: str, previous: str) -> dict[str, str]:
        return {
            "strategy": strategy,
            "outcome": outcome,
            "model_version": model,
            "previous_model_version": previous,
        }

    records = [
        rec("all-at-once", "promoted", "A", ""),
        rec("canary", "promoted", "B", "A"),
        rec("canary", "rolled back", "C", "B"),  # never live: not a place to go back to
        rec("all-at-once", "promoted", "D", "B"),
        rec("rollback", "promoted", "B", "D"),
    ]
    assert previous_live(records, "D") == "B"
    assert previous_live(records, "B") == "A"  # after the rollback to B, further back: A
    assert previous_live(records, "A") is None
    assert previous_live(records, "C") is None


def test_only_names_save_record_gives_are_read_as_records() -> None:
    from ops.service.rollout import RolloutRecord, is_record_name, now_text

    # GIVEN the name save_record gives a record (when it ended, then what it was)
    ended = now_text()
    record = RolloutRecord("canary", "rolled back", "v2", "3", "v1", "2", ended, ended, "me")
    assert record.ended == ended
    for what in ("promoted", "rolled-back", "rollback"):
        assert is_record_name(f"models/mejor_modelo.rollouts/{ended}-{what}.json")
    # THEN anything else under the prefix is not read (no GET, no kms:Verify per junk object)
    for junk in ("x.json", f"{ended}-promoted.json.bak", f"{ended}-promoted", "2099-promoted.json"):
        assert not is_record_name(f"models/mejor_modelo.rollouts/{junk}")


def test_extra_calls_cannot_dilute_an_error_count_or_an_invalid_excess() -> None:
    """#35 finding 4: the ratios alone let 10,000 extra calls from one caller promote a version
    that failed 5% of the real calls; the absolute caps do not move with the denominator."""
    old = Figures("1", invocations=1_000)
    real = Figures("2", invocations=118, errors=6)
    diluted = Figures("2", invocations=10_118, errors=6)  # 0.06%: under the 1% ratio
    g = Guardrails()
    assert breach(real, old, g, 1e9) is not None
    reason = breach(diluted, old, g, 1e9)
    assert reason is not None and "6 calls failed" in reason, reason
    refused = Figures("2", invocations=10_118, invalid=40)  # 0.4%: under the 5% increase
    reason = breach(refused, old, g, 1e9)
    assert reason is not None and "40 requests" in reason, reason
    # AND a few failures on a healthy version are not a breach
    assert breach(Figures("2", invocations=5_000, errors=3), old, g, 1e9) is None


def test_a_traffic_spike_during_a_bake_cannot_be_judged() -> None:
    from ops.service.rollout import spike

    g = Guardrails()
    # GIVEN a bake whose calls are ten times and more what came in the same time before it
    reason = spike(during=12_000, before=100, elapsed_s=60.0, window_s=60.0, guardrails=g)
    assert reason is not None and reason.startswith("cannot judge")
    # THEN ordinary traffic, or little of it, is judged as usual
    assert spike(during=1_100, before=1_000, elapsed_s=60.0, window_s=60.0, guardrails=g) is None
    assert spike(during=90, before=0, elapsed_s=60.0, window_s=60.0, guardrails=g) is None
    # AND the check can be turned off
    off = Guardrails(max_traffic_ratio=None)
    assert spike(during=12_000, before=0, elapsed_s=60.0, window_s=60.0, guardrails=off) is None


def test_a_caller_cannot_raise_the_old_versions_invalid_share_to_lower_the_bar() -> None:
    """Review of #35 finding 4: the new version was judged against the old version's share of
    invalid requests during the bake, which a caller raises by sending requests only the old
    version refuses (a feature only the new model takes)."""
    from datetime import UTC, datetime

    from ops.service.rollout import _Baseline

    g = Guardrails()
    new = Figures("8", invocations=45, invalid=9)  # a fifth of real calls refused
    raised = Figures("7", invocations=405, invalid=135)  # a third: the caller's requests
    assert breach(new, raised, g, 1e9) is None  # judged against the raised share: passes
    before = _Baseline(datetime.now(UTC), calls=300, window_s=60.0, invalid_rate=0.0)
    reason = breach(new, before.judging(raised), g, 1e9)
    assert reason is not None and "refused 9 of 45" in reason


def test_a_required_agreement_that_cannot_be_measured_is_not_met() -> None:
    from ops.service.live_model import Share
    from ops.service.rollout import Candidate, _first_checks

    # GIVEN a rollout whose live model gives no rows to measure the agreement on (its signed
    # manifest was not found) and no probe
    candidate = Candidate(Share("1", 1.0, "m1", "s1"), "2", "m2", None, None, None)
    # WHEN a minimum agreement is required  THEN it is not met: no caller may see the version
    required = _first_checks(None, candidate, Guardrails(min_agreement=0.9), None)  # type: ignore[arg-type]
    assert required.reason is not None and "cannot judge version 2" in required.reason
    # AND with none required, the rollout goes on and its record says it was not measured
    free = _first_checks(None, candidate, Guardrails(), None)  # type: ignore[arg-type]
    assert free.reason is None and "not measured" in free.agreement
