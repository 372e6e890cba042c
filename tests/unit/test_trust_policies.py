"""Role trust policies as STS evaluates them (the local target's AssumeRole): the caller must be
named, by account, ARN or role, and an explicit deny wins."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reintento_local.trust_policies import refusal

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/ops"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/probe/s1"


def _trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(principal: Any, action: Any = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, **extra}


@pytest.mark.parametrize(
    ("trust", "caller", "allowed"),
    [
        (_trust(_allow({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), USER, True),
        (_trust(_allow({"AWS": ACCOUNT})), SESSION, True),
        (_trust(_allow({"AWS": USER})), USER, True),
        (_trust(_allow({"AWS": f"arn:aws:iam::{ACCOUNT}:role/probe"})), SESSION, True),
        (_trust(_allow("*", "sts:*")), USER, True),
        # a service's role (Lambda's, Step Functions') is not a person's to assume
        (_trust(_allow({"Service": "lambda.amazonaws.com"})), USER, False),
        (_trust(_allow({"AWS": "arn:aws:iam::210987654321:root"})), USER, False),
        (_trust(_allow({"AWS": f"arn:aws:iam::{ACCOUNT}:user/other"})), USER, False),
        (_trust(_allow({"AWS": ACCOUNT}, "sts:TagSession")), USER, False),
        # an explicit deny wins over any allow (the review's "Deny *" trust)
        (
            _trust(
                _allow({"AWS": ACCOUNT}),
                {"Effect": "Deny", "Principal": "*", "Action": "*"},
            ),
            USER,
            False,
        ),
        # what cannot be evaluated here grants nothing
        (
            _trust(
                _allow({"AWS": ACCOUNT}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
            ),
            USER,
            False,
        ),
        (_trust(), USER, False),
    ],
)
def test_trust_policy_decides_who_may_assume_the_role(
    trust: str, caller: str, allowed: bool
) -> None:
    reason = refusal(trust, caller, ACCOUNT)
    assert (reason is None) is allowed, reason


# the CDK bootstrap roles' trust (bootstrap-template.yaml, DenyExternalId default 'true')
NO_EXTERNAL_ID = {"Null": {"sts:ExternalId": "true"}}


@pytest.mark.parametrize(
    ("context", "allowed"),
    [
        ({}, True),  # the CDK CLI assumes its bootstrap roles without an ExternalId
        ({"sts:ExternalId": "deputy"}, False),  # a deputized call is refused, as the role says
    ],
)
def test_trust_policy_conditions_are_evaluated_against_the_request(
    context: dict[str, str], allowed: bool
) -> None:
    # GIVEN the bootstrap roles' trust: the account, with no ExternalId (Null condition)
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null
    trust = _trust(_allow({"AWS": ACCOUNT}, Condition=NO_EXTERNAL_ID))
    # WHEN a session of the account assumes it  THEN the condition decides
    reason = refusal(trust, SESSION, ACCOUNT, context)
    assert (reason is None) is allowed, reason
