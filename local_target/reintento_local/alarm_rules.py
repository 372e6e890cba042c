"""How a CloudWatch metric alarm decides its state, as CloudWatch documents it. Pure: datapoints
in, a state and its reason out; the local target's evaluator (``reintento_local.alarms``) feeds it.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
(evaluating an alarm: period, evaluation periods, datapoints to alarm, missing data)
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html

- each period is one datapoint: the statistic (Sum, Average, Minimum, Maximum, SampleCount,
  pNN) of the values whose timestamp falls in it; periods are aligned to multiples of the
  period, the newest one is the period in progress;
- the alarm looks at the last ``EvaluationPeriods`` periods: ``ALARM`` when at least
  ``DatapointsToAlarm`` (default: all of them) breach the threshold, else ``OK``; when the
  newest periods have no datapoint yet, the most recent datapoints of its evaluation range
  (two periods more) are used, so a datapoint that arrives late still counts;
- missing datapoints follow ``TreatMissingData``: ``notBreaching`` counts them as good,
  ``breaching`` as bad, ``ignore`` keeps the current state when all are missing, ``missing``
  (the default) goes to ``INSUFFICIENT_DATA`` when all are missing;
- metric math: ``+ - * /``, parentheses, numbers, query ids and ``FILL(series, value)``. Where
  one operand of an arithmetic operator has no datapoint at a timestamp the result has none
  there (the strict reading; ``FILL(x, 0)`` makes a sparse metric count as 0). Any other
  function is refused (the alarm is left as it is, with the reason).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Series = dict[int, float]  # period start (epoch seconds) -> value

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_SYMBOL = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


class UnsupportedExpressionError(ValueError):
    """A metric-math expression this evaluator does not implement."""


def period_starts(now: float, period: int, count: int) -> list[int]:
    """The starts of the last ``count`` periods, oldest first; the last is in progress."""
    current = int(now // period) * period
    return [current - period * i for i in range(count - 1, -1, -1)]


# CloudWatch retrieves more periods than EvaluationPeriods (its "evaluation range"; how many
# more depends on the period and is not documented exactly): two more periods here
RANGE_EXTRA_PERIODS = 2


def evaluation_values(over_range: Sequence[float | None], periods: int) -> list[float | None]:
    """The datapoints an alarm of ``periods`` evaluation periods is decided on, from the
    periods of its evaluation range (oldest first): the most recent ``periods`` datapoints when
    the range has that many (a datapoint that arrived after its period ended still counts);
    else the last ``periods`` periods, missing ones included, for the missing-data treatment.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
    """
    present = [v for v in over_range if v is not None]
    if len(present) >= periods:
        return list(present[len(present) - periods :])
    return list(over_range[len(over_range) - periods :])


def statistic(values: Sequence[float], stat: str) -> float | None:
    """One period's statistic; None when the period has no values."""
    if not values:
        return None
    if stat == "Sum":
        return float(sum(values))
    if stat == "Average":
        return float(sum(values) / len(values))
    if stat == "Minimum":
        return float(min(values))
    if stat == "Maximum":
        return float(max(values))
    if stat == "SampleCount":
        return float(len(values))
    match = re.fullmatch(r"p(\d+(?:\.\d+)?)", stat)
    if match:  # nearest rank
        ordered = sorted(values)
        rank = max(1, math.ceil(float(match.group(1)) / 100 * len(ordered)))
        return float(ordered[rank - 1])
    raise UnsupportedExpressionError(f"statistic {stat!r}")


def bucket(
    datapoints: Sequence[tuple[float, float]], period: int, starts: Sequence[int], stat: str
) -> Series:
    """The statistic of each period that has values."""
    grouped: dict[int, list[float]] = {s: [] for s in starts}
    for timestamp, value in datapoints:
        start = int(timestamp // period) * period
        if start in grouped:
            grouped[start].append(value)
    out: Series = {}
    for start, values in grouped.items():
        computed = statistic(values, stat)
        if computed is not None:
            out[start] = computed
    return out


# --------------------------------------------------------------------------- metric math

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(.))")
Operand = Series | float


def _tokens(expression: str) -> list[str]:
    out: list[str] = []
    for number, name, symbol in _TOKEN.findall(expression):
        token = number or name or symbol
        if token.strip():
            out.append(token)
    return out


def _combine(left: Operand, right: Operand, op: str) -> Operand:
    def apply(a: float, b: float) -> float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b if b else math.nan

    if isinstance(left, float) and isinstance(right, float):
        return apply(left, right)
    if isinstance(left, float):
        assert isinstance(right, dict)
        return {t: apply(left, v) for t, v in right.items()}
    if isinstance(right, float):
        return {t: apply(v, right) for t, v in left.items()}
    return {t: apply(v, right[t]) for t, v in left.items() if t in right}


class _Parser:
    def __init__(
        self, expression: str, series: Mapping[str, Series], starts: Sequence[int]
    ) -> None:
        self.tokens = _tokens(expression)
        self.at = 0
        self.series = series
        self.starts = starts

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise UnsupportedExpressionError(f"expected {expected or 'a value'} at token {self.at}")
        self.at += 1
        return token

    def expression(self) -> Operand:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            value = _combine(value, self.term(), op)
        return value

    def term(self) -> Operand:
        value = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            value = _combine(value, self.factor(), op)
        return value

    def factor(self) -> Operand:
        token = self.take()
        if token == "(":
            value = self.expression()
            self.take(")")
            return value
        if token == "-":
            return _combine(-1.0, self.factor(), "*")
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return float(token)
        if self.peek() == "(":
            return self.function(token)
        if token in self.series:
            return dict(self.series[token])
        raise UnsupportedExpressionError(f"unknown id {token!r}")

    def function(self, name: str) -> Operand:
        if name.upper() != "FILL":
            raise UnsupportedExpressionError(f"function {name}()")
        self.take("(")
        inner = self.expression()
        self.take(",")
        fill = self.expression()
        self.take(")")
        if not isinstance(inner, dict) or not isinstance(fill, float):
            raise UnsupportedExpressionError("FILL(series, number)")
        return {t: inner.get(t, fill) for t in self.starts}


def evaluate_expression(
    expression: str, series: Mapping[str, Series], starts: Sequence[int]
) -> Series:
    parser = _Parser(expression, series, starts)
    value = parser.expression()
    if parser.peek() is not None:
        raise UnsupportedExpressionError(f"unexpected {parser.peek()!r}")
    if isinstance(value, float):
        return dict.fromkeys(starts, value)
    return {t: v for t, v in value.items() if not math.isnan(v)}


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Decision:
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str


def decide(
    values: Sequence[float | None],
    *,
    comparison: str,
    threshold: float,
    datapoints_to_alarm: int | None,
    treat_missing: str | None,
    current: str,
) -> Decision:
    """The state for the last periods' datapoints (oldest first, None where missing)."""
    breaches = COMPARISONS[comparison]
    needed = datapoints_to_alarm or len(values)
    treat = treat_missing or "missing"
    present = [v for v in values if v is not None]
    missing = len(values) - len(present)
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return Decision(current, "no datapoints: the state is kept (TreatMissingData ignore)")
        return Decision(
            "INSUFFICIENT_DATA",
            f"Insufficient Data: {len(values)} datapoints were unknown.",
        )
    breaching = [v for v in present if breaches(v, threshold)]
    count = len(breaching) + (missing if treat == "breaching" else 0)
    shown = ", ".join(f"{v:g}" for v in (breaching or present)[:5])
    symbol = _SYMBOL[comparison]
    if count >= needed:
        return Decision(
            "ALARM",
            f"Threshold Crossed: {count} out of the last {len(values)} datapoints "
            f"[{shown}] were {symbol} the threshold ({threshold:g}) "
            f"(minimum {needed} datapoint(s) for OK -> ALARM transition).",
        )
    return Decision(
        "OK",
        f"Threshold Crossed: {count} out of the last {len(values)} datapoints "
        f"{'[' + shown + '] ' if present else ''}were {symbol} the threshold ({threshold:g}) "
        f"(minimum {needed} datapoint(s) for ALARM -> OK transition).",
    )
