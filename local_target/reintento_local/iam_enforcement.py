"""IAM enforced for role credentials: the function's own calls, and anyone who assumes a role.

Each execution environment gets STS credentials of its function's role; requests signed with
temporary (``ASIA...``) keys go through moto's signature check and policy evaluation, so the
stack's least-privilege policy is proven offline (reading the model works; writing it, listing
the bucket or reading another bucket is AccessDenied). A test can ``sts.assume_role`` the
function's role and meet the same refusals. The state machine's tasks sign with a session of
its role the same way (``patches._stepfunctions_service_credentials``); its Distributed Map
children are started inside moto, not through the API, and ``role_may`` decides the role's
``states:StartExecution`` on its own state machine first (``distributed_map``). Long-term
keys (the operator, tests) stay unauthenticated, as in stock moto.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from reintento_local.iam_conditions import conditions_hold
from reintento_local.iam_resources import resource_tags, resources_of

ENFORCED_KEYS: set[str] = set()
# moto names some operations, not their IAM actions: the policy must be checked by the latter
IAM_ACTION_NAMES = {"Invoke": "InvokeFunction"}
# moto prefixes an action with the request's SigV4 signing name; IAM's prefix differs for
# CloudWatch, signed as "monitoring" and authorized as "cloudwatch:..."
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
IAM_PREFIXES = {"monitoring": "cloudwatch"}
_lock = threading.Lock()
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
# the request context IAM conditions are evaluated against, per server thread (one request)
_request = threading.local()
# query parameters of S3's ListObjects that are condition keys
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
_S3_LIST_KEYS = {"prefix": "s3:prefix", "delimiter": "s3:delimiter", "max-keys": "s3:max-keys"}


def _context_of(response: Any) -> dict[str, str]:
    """The global and S3 condition keys of the request being answered. The endpoint is loopback
    HTTP, evaluated as the TLS request the real path is (aws:SecureTransport true)."""
    now = datetime.now(UTC)
    context = {
        "aws:SecureTransport": "true",
        "aws:SourceIp": "127.0.0.1",
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:RequestedRegion": str(getattr(response, "region", "")),
        "aws:PrincipalAccount": str(getattr(response, "current_account", "")),
        # every resource of the local target lives in its one account (AWS sets this key on
        # every request to a resource that has an owner account; the CDK bootstrap roles
        # require it): https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceaccount
        "aws:ResourceAccount": str(getattr(response, "current_account", "")),
    }
    if type(response).__name__ == "CloudWatchResponse":
        # PutMetricData's one condition key: the namespace written to
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
        with suppress(Exception):
            namespace = response._get_param("Namespace")
            if namespace:
                context["cloudwatch:namespace"] = str(namespace)
    query = getattr(response, "querystring", None) or {}
    for name, key in _S3_LIST_KEYS.items():
        if name in query:
            value = query[name]
            context[key] = str(value[0] if isinstance(value, list) else value)
    return context


def request_context() -> dict[str, str]:
    return dict(getattr(_request, "context", None) or {"aws:SecureTransport": "true"})


@contextmanager
def using_context(**extra: str) -> Iterator[None]:
    """Evaluate conditions against ``extra`` keys added to the request's context for a while."""
    saved = getattr(_request, "context", None)
    _request.context = {**request_context(), **extra}
    try:
        yield
    finally:
        _request.context = saved


def _enforced_key(response: Any) -> str | None:
    """The access key a request is signed with, if its calls are authorized by IAM (role
    credentials: the function's own, or anyone's AssumeRole)."""
    match = _CREDENTIAL.search(response.headers.get("Authorization", "") or "")
    if match and (match.group(1) in ENFORCED_KEYS or match.group(1).startswith("ASIA")):
        return match.group(1)
    return None


@dataclass(frozen=True)
class RoleCredentials:
    """A function role's temporary credentials, as environment variables, and their expiry."""

    env: dict[str, str]
    expires_at: float  # epoch seconds


def credentials_for(fn: Any) -> RoleCredentials:
    """Assume the function's role (in-process) and remember its key as enforced."""
    return service_role_credentials(fn.account_id, fn.region, fn.role, fn.function_name)


def service_role_credentials(
    account: str, region: str, role_arn: str, session: str, duration: int = 43200
) -> RoleCredentials:
    """A service's session of ``role_arn`` (assumed in-process, as Lambda or Step Functions
    assume the role they were given), its key remembered as enforced: every request it signs
    is authorized against that role's policies."""
    from moto.sts.models import sts_backends

    role = sts_backends[account]["global"].assume_role(
        region_name=region,
        role_session_name=session[:64],
        role_arn=role_arn,
        policy=None,  # type: ignore[arg-type]
        duration=duration,
        external_id=None,  # type: ignore[arg-type]
    )
    with _lock:
        ENFORCED_KEYS.add(role.access_key_id)
    env = {
        "AWS_ACCESS_KEY_ID": role.access_key_id,
        "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
        "AWS_SESSION_TOKEN": role.session_token,
    }
    return RoleCredentials(env, role.expiration.replace(tzinfo=UTC).timestamp())


def install() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin

    def authenticate(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if _enforced_key(self) is None:
            return
        parsed = urlparse(self.uri)
        path = self.raw_path + ("?" + parsed.query if parsed.query else "")
        resources = [resource]
        if resource == "*":  # moto's default: the resources the request names
            resources = resources_of(
                path,
                self.headers,
                self.raw_body,
                getattr(self, "querystring", None) or {},
                self.current_account,
                self.region,
            )
        # the signature covers the body as sent: for a request without one (GET, DELETE) moto
        # signed its parsed parameters instead, so every such call with role credentials failed
        # (S3's requests sign the payload's hash header, and S3IAMRequest reads its parameters)
        bodiless = not self.raw_body and self.method in ("GET", "HEAD", "DELETE")
        unsigned_body = bodiless and iam_request_cls.__name__ == "IAMRequest"
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=b"" if unsigned_body else self.data,
            body=self.raw_body,
            headers=self.headers,
            action=IAM_ACTION_NAMES.get(self._get_action(), self._get_action()),
        )
        service, _, name = request._action.partition(":")
        request._action = f"{IAM_PREFIXES.get(service, service)}:{name}"
        request.check_signature()
        tags = resource_tags(self.headers, self.raw_body, self.current_account, self.region)
        if tags:  # the resource's tags are condition keys of this request
            _request.context = {**request_context(), **tags}
        for each in resources:
            request.check_action_permitted(each)

    setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authenticate)  # noqa: B010
    # A role's trust policy is STS's own decision, made for every caller by the sts-trust-policies
    # fix (``trust_policies``: account principals, conditions, explicit denies); moto's second
    # check here compared the caller's ARN with the principals literally, so a role session
    # could never assume a role that trusts its account (the CDK bootstrap roles, say).
    from moto.iam.access_control import IAMRequestBase

    setattr(IAMRequestBase, "_check_role_trust_relationship", lambda self, role_arn: True)  # noqa: B010


# --------------------------------------------------------------------------- policy statements


def _matches(pattern_or_list: Any, value: str) -> bool:
    from moto.iam.access_control import IAMPolicyStatement

    patterns = pattern_or_list if isinstance(pattern_or_list, list) else [pattern_or_list]
    return any(IAMPolicyStatement._match(str(p), value) for p in patterns)


def install_conditions() -> None:
    """A statement applies only if its action, resource and conditions all match, as IAM
    evaluates them (stock moto denies when a condition fails, ignores conditions on keys the
    request lacks, and knows only StringEquals); NotResource is honoured.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: Mapping[str, str] | None = None,
    ) -> Any:
        statement = self._statement
        if "NotAction" in statement:
            concerned = not _matches(statement["NotAction"], action)
        else:
            concerned = _matches(statement.get("Action", []), action)
        if not concerned:
            return PermissionResult.NEUTRAL
        if self.is_unknown_principal(statement.get("Principal")):
            return PermissionResult.NEUTRAL
        if principal and not self._check_principal(principal):
            return PermissionResult.DENIED
        if "NotResource" in statement:
            if _matches(statement["NotResource"], resource):
                return PermissionResult.NEUTRAL
        elif statement.get("Resource") and not _matches(statement["Resource"], resource):
            return PermissionResult.NEUTRAL
        context = {**request_context(), **(incoming_condition_values or {})}
        held = conditions_hold(statement.get("Condition"), context)
        allow = statement.get("Effect") == "Allow"
        if held is None:  # an operator not evaluated here: never widen access
            return PermissionResult.NEUTRAL if allow else PermissionResult.DENIED
        if not held:
            return PermissionResult.NEUTRAL
        return PermissionResult.PERMITTED if allow else PermissionResult.DENIED

    setattr(IAMPolicyStatement, "is_action_permitted", is_action_permitted)  # noqa: B010

    # the context is taken as soon as moto has parsed a request: S3 evaluates bucket policies
    # before it authenticates the caller
    from moto.core.responses import BaseResponse

    original_setup = BaseResponse.setup_class

    def setup_class(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_setup(self, *args, **kwargs)
        _request.context = _context_of(self)
        return result

    setattr(BaseResponse, "setup_class", setup_class)  # noqa: B010


# --------------------------------------------------------------------------- S3 missing keys


def _list_bucket_allowed(response: Any, bucket: str, key: str) -> bool:
    """Whether the request's role may s3:ListBucket the bucket for the key's prefix."""
    from moto.iam.access_control import IAMPolicy, PermissionResult, create_access_key
    from moto.utilities.utils import get_partition

    key_id = _enforced_key(response)
    assert key_id is not None
    access_key = create_access_key(
        account_id=response.current_account,
        partition=get_partition(response.region),
        access_key_id=key_id,
        headers=response.headers,
    )
    resource = f"arn:{get_partition(response.region)}:s3:::{bucket}"
    permitted = False
    with using_context(**{"s3:prefix": key}):
        for policy in access_key.collect_policies():
            result = IAMPolicy(policy).is_action_permitted("s3:ListBucket", resource)
            if result == PermissionResult.DENIED:
                return False
            permitted = permitted or result == PermissionResult.PERMITTED
    return permitted


def role_may(account: str, region: str, role_arn: str, action: str, resource: str) -> bool:
    """Whether the role ``role_arn`` may call ``action`` on ``resource``, as IAM decides for a
    call a service makes with it (its inline and attached policies; an explicit deny wins;
    nothing allowed is a deny), with the request context a call of the local target has.
    No session is made for it: the role's own policies are read, as a session's would be."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account][get_partition(region)]
    name = role_arn.rsplit("/", 1)[-1]
    policies: list[Any] = [
        backend.get_role_policy(name, inline)[1] for inline in backend.list_role_policies(name)
    ]
    policies += backend.list_attached_role_policies(name)[0]
    context = {
        "aws:SecureTransport": "true",
        "aws:RequestedRegion": region,
        "aws:PrincipalAccount": account,
        "aws:ResourceAccount": account,
    }
    permitted = False
    with using_context(**context):
        for policy in policies:
            result = IAMPolicy(policy).is_action_permitted(action, resource)
            if result == PermissionResult.DENIED:
                return False
            permitted = permitted or result == PermissionResult.PERMITTED
    return permitted


def install_missing_key() -> None:
    """GetObject/HeadObject of a key that does not exist answer 403 AccessDenied unless the
    caller may s3:ListBucket the bucket (404 NoSuchKey then), for role credentials. The
    implicit ListBucket check is evaluated with s3:prefix set to the requested key, so a
    ListBucket allowed only for that key's prefix gives 404 (AWS's page says which permission,
    not which condition keys that check carries: this is the assumption, see the README).
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions)
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html (Permissions)
    """
    from moto.s3.exceptions import MissingKey, S3AccessDeniedError
    from moto.s3.responses import S3Response

    original_get = S3Response.get_object
    original_head = S3Response.head_object

    def get_object(self: Any) -> Any:
        try:
            return original_get(self)
        except MissingKey:
            key = self.parse_key_name()
            if _enforced_key(self) is not None and not _list_bucket_allowed(
                self, self.bucket_name, key
            ):
                raise S3AccessDeniedError() from None
            raise

    def head_object(
        self: Any, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any
    ) -> Any:
        status, response_headers, body = original_head(self, bucket_name, query, key_name, headers)
        if (
            status == 404
            and "x-amz-delete-marker" not in response_headers
            and _enforced_key(self) is not None
            and not _list_bucket_allowed(self, bucket_name, key_name)
        ):
            return 403, {}, ""
        return status, response_headers, body

    setattr(S3Response, "get_object", get_object)  # noqa: B010
    setattr(S3Response, "head_object", head_object)  # noqa: B010
