"""Days of log retention as the CDK enum (CloudWatch accepts only some values)."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

_BY_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def retention(days: int) -> logs.RetentionDays:
    """The enum for ``days``; a clear error listing the allowed values otherwise."""
    try:
        return _BY_DAYS[days]
    except KeyError:
        allowed = ", ".join(str(d) for d in _BY_DAYS)
        raise ValueError(f"log_retention_days must be one of {allowed}; got {days}") from None
