"""AssumeRole as STS decides it: the role must exist and its trust policy must let the caller in.

moto's AssumeRole issued credentials for any role ARN, existing or not, whatever its trust
policy said. STS refuses with ``AccessDenied`` ("... is not authorized to perform:
sts:AssumeRole on resource: ...") unless the role's trust policy (a resource-based policy)
allows the calling principal, and an explicit ``Deny`` in it always wins
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).

A principal matches ``"*"``; an account (``"123456789012"`` or
``arn:aws:iam::123456789012:root``) matches every principal of that account; a user or role
ARN matches that user, or that role's sessions. On AWS a same-account principal named by its
account also needs an identity policy allowing ``sts:AssumeRole``: here the IAM enforcement
checks that for role sessions (temporary credentials), and the only long-term key the gate
accepts is the operator's, which may do anything (so nothing is granted that AWS would refuse
to a principal the gate lets in). ``Service`` and ``Federated``
principals never match a signed HTTP caller (the local Lambda and Step Functions mint their
roles' credentials in-process, as the services do). A ``Condition`` is evaluated against the
request's keys (``iam_conditions``: the CDK bootstrap roles' "no ``sts:ExternalId``", say); a
condition with an operator it does not know, a ``NotPrincipal`` or a ``NotAction`` is not
evaluated here: an ``Allow`` of that kind grants nothing and a ``Deny`` of that kind refuses
(strict: never more access than AWS would give).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from reintento_local.iam_conditions import Context, conditions_hold, wildcard_match

_ASSUMED_ROLE = re.compile(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/.+")


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return []


def principal_matches(principal: Any, caller_arn: str, caller_account: str) -> bool:
    """Whether a statement's ``Principal`` names the caller."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    session = _ASSUMED_ROLE.fullmatch(caller_arn)
    role_arn = f"arn:aws:iam::{session.group(1)}:role/{session.group(2)}" if session else ""
    for named in _listed(principal.get("AWS")):
        if named == "*" or named in (caller_account, f"arn:aws:iam::{caller_account}:root"):
            return True
        if named in (caller_arn, role_arn):
            return True
    return False


def _action_matches(action: Any) -> bool:
    return any(wildcard_match(a.lower(), "sts:assumerole") for a in _listed(action))


def refusal(
    document: str | dict[str, Any],
    caller_arn: str,
    caller_account: str,
    context: Context | None = None,
) -> str | None:
    """Why the trust policy refuses this caller (None: it allows); ``context`` holds the
    request's condition keys (``sts:ExternalId`` when given, the global ``aws:`` keys)."""
    policy = json.loads(unquote(document)) if isinstance(document, str) else document
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements)
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        held = conditions_hold(statement.get("Condition"), context or {})
        opaque = held is None or any(k in statement for k in ("NotPrincipal", "NotAction"))
        matches = (
            not opaque
            and held is True
            and _action_matches(statement.get("Action"))
            and principal_matches(statement.get("Principal"), caller_arn, caller_account)
        )
        if statement.get("Effect") == "Deny" and (matches or opaque):
            return "an explicit deny in the role's trust policy"
        if statement.get("Effect") == "Allow" and matches:
            allowed = True
    return None if allowed else "the role's trust policy does not allow this principal"
