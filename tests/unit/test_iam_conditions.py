"""IAM condition evaluation of the local target, against the rules AWS documents
(reference_policies_elements_condition_operators, ..._condition-logic-multiple-context-keys)."""

from __future__ import annotations

from typing import Any

import pytest

from reintento_local.iam_conditions import conditions_hold

MODEL_PREFIX = {"StringEquals": {"s3:prefix": "models/mejor_modelo.pkl"}}

CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool | None]] = [
    ("no condition", {}, {}, True),
    ("equal value", MODEL_PREFIX, {"s3:prefix": "models/mejor_modelo.pkl"}, True),
    ("other value", MODEL_PREFIX, {"s3:prefix": "models/"}, False),
    ("key absent: a positive operator is false", MODEL_PREFIX, {}, False),
    ("keys are case-insensitive", MODEL_PREFIX, {"S3:Prefix": "models/mejor_modelo.pkl"}, True),
    ("values are case-sensitive", MODEL_PREFIX, {"s3:prefix": "MODELS/mejor_modelo.pkl"}, False),
    ("like", {"StringLike": {"s3:prefix": "models/*"}}, {"s3:prefix": "models/a/b"}, True),
    ("like ?", {"StringLike": {"s3:prefix": "run-?"}}, {"s3:prefix": "run-12"}, False),
    ("list of values is OR", {"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),
    ("negated, key absent: true", {"StringNotEquals": {"k": "a"}}, {}, True),
    ("negated with a list is NOR", {"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),
    ("IfExists, key absent: true", {"StringEqualsIfExists": {"k": "a"}}, {}, True),
    ("IfExists, key present", {"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
    ("Null true: key absent", {"Null": {"k": "true"}}, {}, True),
    ("Null true: key present", {"Null": {"k": "true"}}, {"k": "x"}, False),
    ("Bool", {"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
    (
        "Bool given as JSON true",
        {"Bool": {"aws:SecureTransport": True}},
        {"aws:SecureTransport": "true"},
        True,
    ),
    (
        "ArnLike per part",
        {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:111122223333:alarm:*"}},
        {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:x"},
        True,
    ),
    (
        "ArnLike other account",
        {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:111122223333:alarm:*"}},
        {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:444455556666:alarm:x"},
        False,
    ),
    ("numeric", {"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, False),
    ("ip", {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, {"aws:SourceIp": "127.0.0.1"}, True),
    (
        "every key and block must hold (AND)",
        {"StringEquals": {"a": "1", "b": "2"}, "Bool": {"c": "true"}},
        {"a": "1", "b": "2", "c": "false"},
        False,
    ),
    ("ForAnyValue", {"ForAnyValue:StringEquals": {"k": ["x"]}}, {"k": ["y", "x"]}, True),
    ("ForAllValues", {"ForAllValues:StringEquals": {"k": ["x"]}}, {"k": ["y", "x"]}, False),
    ("ForAllValues, key absent: true", {"ForAllValues:StringEquals": {"k": ["x"]}}, {}, True),
    ("unknown operator is unknown", {"DateGreaterThan": {"aws:CurrentTime": "2020"}}, {}, None),
]


@pytest.mark.parametrize(
    ("case", "condition", "context", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_condition(
    case: str, condition: dict[str, Any], context: dict[str, Any], expected: bool | None
) -> None:
    assert conditions_hold(condition, context) is expected, case
