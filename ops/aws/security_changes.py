"""The security-relevant difference between a deployed template and the one about to deploy.

Pure: two CloudFormation templates in, a list of readable changes out. What counts is what
grants, denies or exposes access (``SECURITY_TYPES``): IAM identities and policies, resource
policies, Lambda permissions and function URLs, subscriptions and log destinations. ``deploy``
shows these and goes on only when they are approved (the CLI asks, or ``--yes``), like the CDK
CLI's ``--require-approval broadening``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Every resource type that grants or exposes access, with the properties that do so (from each
# type's page of the CloudFormation resource reference, docs.aws.amazon.com/AWSCloudFormation/
# latest/UserGuide/aws-template-resource-type-ref.html). A resource of one of these types that is
# added or removed is listed, and one whose listed properties change. Secrets (an IAM user's
# LoginProfile password) are never among the properties shown.
SECURITY_TYPES: dict[str, tuple[str, ...]] = {
    # identities and their policies
    "AWS::IAM::Role": (
        "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns", "PermissionsBoundary",
    ),
    "AWS::IAM::Policy": ("PolicyDocument", "Roles", "Users", "Groups"),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument", "Roles", "Users", "Groups"),
    "AWS::IAM::RolePolicy": ("PolicyDocument", "RoleName"),
    "AWS::IAM::UserPolicy": ("PolicyDocument", "UserName"),
    "AWS::IAM::GroupPolicy": ("PolicyDocument", "GroupName"),
    "AWS::IAM::User": ("Policies", "ManagedPolicyArns", "Groups", "PermissionsBoundary"),
    "AWS::IAM::Group": ("Policies", "ManagedPolicyArns"),
    "AWS::IAM::UserToGroupAddition": ("GroupName", "Users"),
    "AWS::IAM::AccessKey": ("UserName", "Status"),
    "AWS::IAM::InstanceProfile": ("Roles",),
    "AWS::IAM::OIDCProvider": ("Url", "ClientIdList", "ThumbprintList"),
    "AWS::IAM::SAMLProvider": ("Name",),
    # resource policies
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::S3::AccessPoint": ("Policy", "PublicAccessBlockConfiguration"),
    "AWS::SNS::TopicPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::KMS::Key": ("KeyPolicy",),
    "AWS::ECR::Repository": ("RepositoryPolicyText",),
    "AWS::Logs::ResourcePolicy": ("PolicyDocument",),
    "AWS::SecretsManager::ResourcePolicy": ("ResourcePolicy",),
    "AWS::Events::EventBusPolicy": ("Statement", "Principal", "Action"),
    "AWS::ApiGateway::RestApi": ("Policy",),
    "AWS::Lambda::Permission": ("Action", "Principal", "SourceArn", "SourceAccount"),
    "AWS::Lambda::LayerVersionPermission": ("Action", "Principal", "OrganizationId"),
    # ways in or out: a public function URL, a subscription or log stream that sends data away
    "AWS::Lambda::Url": ("AuthType", "Cors", "TargetFunctionArn", "Qualifier"),
    "AWS::SNS::Subscription": ("Protocol", "Endpoint", "TopicArn"),
    "AWS::Logs::SubscriptionFilter": ("DestinationArn", "RoleArn"),
    "AWS::EC2::SecurityGroupIngress": ("CidrIp", "CidrIpv6", "FromPort", "ToPort", "IpProtocol"),
}  # fmt: skip


@dataclass(frozen=True)
class SecurityChange:
    """One resource whose access rules are added, removed or changed."""

    stack: str
    logical_id: str
    resource_type: str
    change: str  # "added", "removed" or "changed"
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"{self.change:7} {self.stack}/{self.logical_id} ({self.resource_type})"
        return "\n".join([head, *(f"          {d}" for d in self.details)])


def _statements(value: Any) -> list[str]:
    """Policy statements (or other access properties) as one-line JSON each."""
    if isinstance(value, Mapping) and "Statement" in value:
        statements = value["Statement"]
        statements = statements if isinstance(statements, list) else [statements]
        return [json.dumps(s, sort_keys=True, separators=(",", ":")) for s in statements]
    if isinstance(value, list) and all(
        isinstance(v, Mapping) and "PolicyDocument" in v for v in value
    ):
        return [line for v in value for line in _statements(v["PolicyDocument"])]
    return [json.dumps(value, sort_keys=True, separators=(",", ":"))]


def _access(resource: Mapping[str, Any]) -> dict[str, list[str]]:
    props = resource.get("Properties") or {}
    return {
        name: _statements(props[name])
        for name in SECURITY_TYPES.get(str(resource.get("Type")), ())
        if name in props
    }


def security_changes(
    stack: str, deployed: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> list[SecurityChange]:
    """What changes in access rules when ``deployed`` (None: no stack yet) becomes ``new``."""
    before = (deployed or {}).get("Resources") or {}
    after = new.get("Resources") or {}
    changes: list[SecurityChange] = []
    for logical_id in sorted(set(before) | set(after)):
        old, now = before.get(logical_id), after.get(logical_id)
        kind = str((now or old or {}).get("Type"))
        if kind not in SECURITY_TYPES:
            continue
        if old is None or now is None:
            access = _access(now or old or {})
            listed = tuple(f"{k}: {line}" for k, lines in access.items() for line in lines)
            change = "added" if old is None else "removed"
            changes.append(SecurityChange(stack, logical_id, kind, change, listed))
            continue
        was, will = _access(old), _access(now)
        if was == will:
            continue
        details: list[str] = []
        for name in sorted(set(was) | set(will)):
            gone = [s for s in was.get(name, []) if s not in will.get(name, [])]
            came = [s for s in will.get(name, []) if s not in was.get(name, [])]
            details += [f"- {name}: {s}" for s in gone] + [f"+ {name}: {s}" for s in came]
        changes.append(SecurityChange(stack, logical_id, kind, "changed", tuple(details)))
    return changes
