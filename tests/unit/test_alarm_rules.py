"""How the local target's alarms decide, against CloudWatch's documented evaluation rules."""

from __future__ import annotations

import pytest

from reintento_local.alarm_rules import (
    UnsupportedExpressionError,
    bucket,
    decide,
    evaluate_expression,
    evaluation_values,
    period_starts,
    statistic,
)

NOW = 1_000_000.0  # a moment in the middle of a 300-second period
STARTS = period_starts(NOW, 300, 3)


def test_periods_are_aligned_and_the_newest_is_in_progress() -> None:
    assert STARTS == [999_300, 999_600, 999_900]
    assert STARTS[-1] <= NOW < STARTS[-1] + 300


@pytest.mark.parametrize(
    ("stat", "expected"),
    [("Sum", 10.0), ("Average", 2.5), ("Minimum", 1.0), ("Maximum", 4.0), ("SampleCount", 4.0)],
)
def test_statistics(stat: str, expected: float) -> None:
    assert statistic([1.0, 2.0, 3.0, 4.0], stat) == expected


def test_percentile_is_nearest_rank_and_empty_is_missing() -> None:
    assert statistic([float(v) for v in range(1, 101)], "p99") == 99.0
    assert statistic([], "Sum") is None
    with pytest.raises(UnsupportedExpressionError):
        statistic([1.0], "tm99")


def test_values_fall_in_their_period_only() -> None:
    points = [(999_301.0, 1.0), (999_899.0, 2.0), (999_900.0, 5.0), (1.0, 100.0)]
    assert bucket(points, 300, STARTS, "Sum") == {999_300: 1.0, 999_600: 2.0, 999_900: 5.0}


def test_metric_math_is_strict_where_a_series_is_missing_and_fill_makes_it_zero() -> None:
    series = {"failed": {999_900: 1.0}, "timedout": {}, "aborted": {}}
    assert evaluate_expression("failed + timedout + aborted", series, STARTS) == {}
    filled = evaluate_expression(
        "FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)", series, STARTS
    )
    assert filled == {999_300: 0.0, 999_600: 0.0, 999_900: 1.0}
    assert evaluate_expression("2 * (failed - 0.5)", series, STARTS) == {999_900: 1.0}
    with pytest.raises(UnsupportedExpressionError):
        evaluate_expression("ANOMALY_DETECTION_BAND(failed)", series, STARTS)
    with pytest.raises(UnsupportedExpressionError):
        evaluate_expression("nope + 1", series, STARTS)


def _decide(
    values: list[float | None], treat: str | None, current: str = "OK", m: int | None = None
) -> str:
    return decide(
        values,
        comparison="GreaterThanOrEqualToThreshold",
        threshold=1.0,
        datapoints_to_alarm=m,
        treat_missing=treat,
        current=current,
    ).state


def test_breaching_datapoints_move_to_alarm_and_back() -> None:
    assert _decide([2.0], "notBreaching") == "ALARM"
    assert _decide([0.0], "notBreaching", current="ALARM") == "OK"
    # 3 evaluation periods, all must breach unless DatapointsToAlarm says fewer
    assert _decide([2.0, 0.0, 2.0], "notBreaching") == "OK"
    assert _decide([2.0, 0.0, 2.0], "notBreaching", m=2) == "ALARM"


@pytest.mark.parametrize(
    ("treat", "current", "expected"),
    [
        ("notBreaching", "INSUFFICIENT_DATA", "OK"),
        ("breaching", "OK", "ALARM"),
        ("ignore", "ALARM", "ALARM"),
        ("missing", "OK", "INSUFFICIENT_DATA"),
        (None, "OK", "INSUFFICIENT_DATA"),
    ],
)
def test_missing_data(treat: str | None, current: str, expected: str) -> None:
    assert _decide([None], treat, current=current) == expected


def test_the_reason_says_what_crossed() -> None:
    decision = decide(
        [3.0],
        comparison="GreaterThanThreshold",
        threshold=1.0,
        datapoints_to_alarm=None,
        treat_missing="notBreaching",
        current="OK",
    )
    assert decision.state == "ALARM" and "[3]" in decision.reason and "(1)" in decision.reason


def test_a_late_datapoint_of_the_last_period_is_still_evaluated() -> None:
    """CloudWatch retrieves more periods than EvaluationPeriods (the evaluation range) and, when
    the newest are missing, evaluates on the most recent datapoints it has: a datapoint that
    arrives after its period ended still counts (AWS's metrics arrive a minute or so late).
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
    """
    # GIVEN one evaluation period; a breaching datapoint in the period before the one in progress
    over_range = [None, 3.0, None]  # oldest first: the range is EvaluationPeriods + 2 periods
    # THEN the alarm is evaluated on it, not on the empty period in progress
    assert evaluation_values(over_range, 1) == [3.0]
    assert (
        decide(
            evaluation_values(over_range, 1),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=1,
            datapoints_to_alarm=None,
            treat_missing="notBreaching",
            current="OK",
        ).state
        == "ALARM"
    )
    # AND with fewer datapoints than evaluation periods in the range, the last periods are
    # evaluated with the missing-data treatment, as before
    assert evaluation_values([None, 2.0, None, None], 3) == [2.0, None, None]
    # AND with enough, the most recent ones (oldest first)
    assert evaluation_values([1.0, None, 2.0, 4.0, None], 3) == [1.0, 2.0, 4.0]
