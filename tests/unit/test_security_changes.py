"""Which template changes a deploy must show and have approved."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ops.aws.security_changes import SECURITY_TYPES, security_changes

ROLE = {
    "Type": "AWS::IAM::Role",
    "Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow"}]}},
}
POLICY = {
    "Type": "AWS::IAM::Policy",
    "Properties": {
        "PolicyDocument": {
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "a"}]
        }
    },
}
BUCKET = {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {}}}


def _template(**resources: Any) -> dict[str, Any]:
    return {"Resources": copy.deepcopy(resources)}


def test_a_first_deploy_lists_every_access_rule() -> None:
    changes = security_changes("S", None, _template(Role=ROLE, Policy=POLICY, Bucket=BUCKET))
    assert [(c.logical_id, c.change) for c in changes] == [("Policy", "added"), ("Role", "added")]
    assert any("s3:GetObject" in d for d in changes[0].details)


def test_no_change_and_non_security_changes_ask_nothing() -> None:
    before = _template(Role=ROLE, Policy=POLICY, Bucket=BUCKET)
    after = copy.deepcopy(before)
    after["Resources"]["Bucket"]["Properties"]["VersioningConfiguration"] = {"Status": "x"}
    assert security_changes("S", before, after) == []


def test_a_widened_policy_shows_the_statement_added_and_removed() -> None:
    before = _template(Policy=POLICY)
    after = copy.deepcopy(before)
    statement = after["Resources"]["Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Resource"] = "*"
    (change,) = security_changes("S", before, after)
    assert change.change == "changed"
    assert [d[0] for d in change.details] == ["-", "+"]
    assert '"Resource":"*"' in change.details[1]
    assert "changed" in str(change) and "S/Policy" in str(change)


def test_a_removed_role_is_listed() -> None:
    (change,) = security_changes("S", _template(Role=ROLE), _template())
    assert change.change == "removed"


# a value for the first access property of each type (the property's own shape does not matter
# to the diff: it is listed as JSON)
@pytest.mark.parametrize("resource_type", sorted(SECURITY_TYPES))
def test_every_type_that_grants_or_exposes_access_is_listed(resource_type: str) -> None:
    # GIVEN a template that adds one resource of this type
    prop = SECURITY_TYPES[resource_type][0]
    added = {"Type": resource_type, "Properties": {prop: {"Statement": [{"Effect": "Allow"}]}}}
    changes = security_changes("S", _template(), _template(New=added))
    # THEN the deploy shows it, with what it grants
    assert [(c.logical_id, c.resource_type, c.change) for c in changes] == [
        ("New", resource_type, "added")
    ]
    assert any(prop in d and "Allow" in d for d in changes[0].details)


def test_the_types_the_review_found_missing_are_covered() -> None:
    # the security review's template added each of these and the diff listed nothing
    for resource_type in (
        "AWS::IAM::RolePolicy",
        "AWS::Lambda::Url",
        "AWS::IAM::AccessKey",
        "AWS::SNS::Subscription",
        "AWS::ECR::Repository",
        "AWS::Logs::ResourcePolicy",
    ):
        assert resource_type in SECURITY_TYPES
