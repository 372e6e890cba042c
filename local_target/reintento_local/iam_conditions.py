"""IAM policy condition evaluation, as AWS documents it (stock moto only knows StringEquals, on
trust policies, and ignores conditions whose key the request lacks).

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html

- every operator block of a statement, and every key inside a block, must hold (AND); the values
  listed for one key are alternatives (OR), and for a negated operator none may match (NOR);
- a key absent from the request context makes a condition false, except for negated operators
  (true), ``...IfExists`` operators (true) and ``Null`` (which tests exactly that);
- keys and operator names are matched as AWS does: keys case-insensitively, operators exactly;
- an operator this evaluator does not know is ``None`` (unknown): the caller treats an Allow as
  not applying and a Deny as applying, so an unknown condition never widens access.

Pure: no moto, no request; the request context is a mapping of key to value(s).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

Context = Mapping[str, str | list[str]]


def wildcard_match(pattern: str, value: str) -> re.Match[str] | None:
    """IAM's wildcards: ``*`` any run of characters, ``?`` exactly one, every other character
    literally, case-sensitive (resource patterns and StringLike alike)."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.DOTALL)


def like(pattern: str, value: str) -> bool:
    return wildcard_match(pattern, value) is not None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(expected: str, actual: str) -> bool:
        e, a = _number(expected), _number(actual)
        return e is not None and a is not None and compare(a, e)

    return test


def _ip(expected: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike matches each of the six colon-separated parts on its own."""
    expected, actual = pattern.split(":", 5), value.split(":", 5)
    return len(expected) == len(actual) == 6 and all(
        like(e, a) for e, a in zip(expected, actual, strict=True)
    )


# operator -> (value test(expected, actual), negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda e, a: e == a, False),
    "StringNotEquals": (lambda e, a: e == a, True),
    "StringEqualsIgnoreCase": (lambda e, a: e.lower() == a.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda e, a: e.lower() == a.lower(), True),
    "StringLike": (like, False),
    "StringNotLike": (like, True),
    "ArnEquals": (lambda e, a: e == a, False),
    "ArnNotEquals": (lambda e, a: e == a, True),
    "ArnLike": (_arn_like, False),
    "ArnNotLike": (_arn_like, True),
    "Bool": (lambda e, a: e.lower() == a.lower(), False),
    "NumericEquals": (_numeric(lambda a, e: a == e), False),
    "NumericNotEquals": (_numeric(lambda a, e: a == e), True),
    "NumericLessThan": (_numeric(lambda a, e: a < e), False),
    "NumericLessThanEquals": (_numeric(lambda a, e: a <= e), False),
    "NumericGreaterThan": (_numeric(lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, e: a >= e), False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
}


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


def _lookup(context: Context, key: str) -> list[str] | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return _values(value)
    return None


def _one_key(operator: str, expected: list[str], actual: list[str] | None) -> bool | None:
    set_prefix, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name == "Null":  # {"key": "true"}: the key is absent; "false": present
        wants_absent = expected[0].lower() == "true" if expected else True
        return (actual is None) == wants_absent
    known = _OPERATORS.get(name)
    if known is None or set_prefix not in ("", "ForAnyValue", "ForAllValues"):
        return None
    test, negated = known
    if actual is None:
        return True if (if_exists or negated) else set_prefix == "ForAllValues"

    def matches(value: str) -> bool:
        hit = any(test(e, value) for e in expected)
        return not hit if negated else hit

    if set_prefix == "ForAllValues":
        return all(matches(v) for v in actual)
    return any(matches(v) for v in actual)


def conditions_hold(conditions: Mapping[str, Any] | None, context: Context) -> bool | None:
    """Whether a statement's ``Condition`` block holds for a request context (``None``: it uses
    an operator this evaluator does not know)."""
    if not conditions:
        return True
    unknown = False
    for operator, block in conditions.items():
        if not isinstance(block, Mapping):
            return None
        for key, expected in block.items():
            held = _one_key(str(operator), _values(expected), _lookup(context, str(key)))
            if held is None:
                unknown = True
            elif not held:
                return False
    return None if unknown else True
