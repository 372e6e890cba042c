"""The resource ARNs IAM authorizes a request on, where moto checks against "*".

moto authorizes most actions on the resource "*", so a policy that names its resources (as
least-privilege policies do) denies everything. IAM authorizes each action on the resources the
request names, as the Service Authorization Reference lists them per action:
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
This reads them from the request: Lambda's function (qualified when the call is), KMS's key,
SSM's parameters, ECR's repository, CloudFormation's stack, Step Functions' state machine,
execution or Map Run and CloudWatch Logs' log group (moto's STS names AssumeRole's role itself).
Anything else stays "*".
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

_FUNCTION_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/functions/([^/]+)")


def resources_of(
    path: str, headers: Any, body: Any, query: dict[str, Any], account: str, region: str
) -> list[str]:
    """The resources the request is authorized on (["*"] when it names none here)."""
    lambda_arn = _lambda_resource(path, account, region)
    if lambda_arn:
        return [lambda_arn]
    target = str(headers.get("X-Amz-Target", ""))
    if target.startswith("TrentService."):
        return [_kms_resource(_json(body).get("KeyId"), account, region)]
    if target.startswith(("AmazonSSM.", "AmazonEC2ContainerRegistry_V20150921.")):
        return _ssm_or_ecr(target, _json(body), account, region) or ["*"]
    if target.startswith("AWSStepFunctions."):
        request = _json(body)
        arn = (
            request.get("executionArn")
            or request.get("stateMachineArn")
            or request.get("mapRunArn")
        )
        return [arn] if isinstance(arn, str) else ["*"]
    if target.startswith("Logs_20140328."):
        request = _json(body)
        group = request.get("logGroupName") or request.get("logGroupIdentifier")
        if isinstance(group, str) and not group.startswith("arn:"):
            return [f"arn:aws:logs:{region}:{account}:log-group:{group}:*"]
        return [group] if isinstance(group, str) else ["*"]
    stack = _first(query.get("StackName"))
    if stack and "/cloudformation/aws4_request" in str(headers.get("Authorization", "")):
        return [_stack_resource(stack, account, region)]
    return ["*"]


def resource_tags(headers: Any, body: Any, account: str, region: str) -> dict[str, str]:
    """``aws:ResourceTag/<key>`` condition keys of the KMS key a request names: KMS authorizes
    key operations on the key's tags (https://docs.aws.amazon.com/kms/latest/developerguide/abac.html)."""
    if not str(headers.get("X-Amz-Target", "")).startswith("TrentService."):
        return {}
    key_id = _json(body).get("KeyId")
    if not isinstance(key_id, str):
        return {}
    from moto.kms.models import kms_backends

    try:
        backend = kms_backends[account][region]
        tags = backend.list_resource_tags(backend.describe_key(key_id).id)["Tags"]
    except Exception:  # an unknown key: KMS answers NotFound after the check
        return {}
    return {f"aws:ResourceTag/{t['TagKey']}": str(t["TagValue"]) for t in tags}


def _json(body: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except (ValueError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _first(value: Any) -> str:
    """A query-protocol parameter (moto keeps each as a list)."""
    found = value[0] if isinstance(value, list) and value else value
    return found if isinstance(found, str) else ""


def _lambda_resource(path: str, account: str, region: str) -> str | None:
    """The function's ARN, qualified by the call's ``Qualifier`` (or a ``name:qualifier``
    FunctionName): IAM authorizes a qualified call on the qualified ARN, and a policy on the
    unqualified ARN does not cover an alias or a version
    (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html)."""
    parsed = urlparse(path)
    match = _FUNCTION_PATH.search(unquote(parsed.path))
    if not match:
        return None
    name = match.group(1)
    # a name, NAME:QUALIFIER, or an ARN
    arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
    qualifier = parse_qs(parsed.query).get("Qualifier", [""])[0]
    if qualifier and arn.count(":") == 6:  # arn:aws:lambda:REGION:ACCOUNT:function:NAME
        arn = f"{arn}:{qualifier}"
    return arn


def _kms_resource(key_id: Any, account: str, region: str) -> str:
    """The key's ARN (KeyId may be a key id, a key ARN or an alias)."""
    if not isinstance(key_id, str):
        return "*"
    from moto.kms.models import kms_backends

    try:
        return str(kms_backends[account][region].describe_key(key_id).arn)
    except Exception:  # an unknown key: KMS itself answers NotFound after the check
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def _ssm_or_ecr(target: str, request: dict[str, Any], account: str, region: str) -> list[str]:
    """SSM's parameters (each of a GetParameters) or ECR's repositories."""
    if target.startswith("AmazonSSM."):
        names = request.get("Names") or ([request["Name"]] if "Name" in request else [])
        return [
            n
            if n.startswith("arn:")
            else f"arn:aws:ssm:{region}:{account}:parameter{n if n.startswith('/') else '/' + n}"
            for n in names
            if isinstance(n, str)
        ]
    repositories = request.get("repositoryNames") or [request.get("repositoryName")]
    return [
        f"arn:aws:ecr:{region}:{account}:repository/{name}"
        for name in repositories
        if isinstance(name, str)
    ]


def _stack_resource(name_or_arn: str, account: str, region: str) -> str:
    """The stack's ARN (``stack/NAME/ID``), from its name or ARN."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    from moto.cloudformation.models import cloudformation_backends

    try:
        stack = cloudformation_backends[account][region].get_stack(name_or_arn)
        return str(stack.stack_id)
    except Exception:  # no such stack: CloudFormation answers that itself after the check
        return f"arn:aws:cloudformation:{region}:{account}:stack/{name_or_arn}/*"
