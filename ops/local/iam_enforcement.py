"""IAM enforced for role credentials: the function's own calls, and anyone who assumes a role.

Each execution environment gets STS credentials of its function's role; requests signed with
temporary (``ASIA...``) keys go through moto's signature check and policy evaluation, so the
stack's least-privilege policy is proven offline (reading the model works; writing it, listing
the bucket or reading another bucket is AccessDenied). A test can ``sts.assume_role`` the
function's role and meet the same refusals. Long-term keys (the operator, tests, the Step
Functions service) stay unauthenticated, as in stock moto.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import unquote, urlparse

ENFORCED_KEYS: set[str] = set()
# moto names some operations, not their IAM actions: the policy must be checked by the latter
IAM_ACTION_NAMES = {"Invoke": "InvokeFunction"}
_lock = threading.Lock()
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


def credentials_for(fn: Any) -> dict[str, str]:
    """Assume the function's role (in-process) and remember its key as enforced."""
    from moto.sts.models import sts_backends

    role = sts_backends[fn.account_id]["global"].assume_role(
        region_name=fn.region,
        role_session_name=fn.function_name[:64],
        role_arn=fn.role,
        policy=None,  # type: ignore[arg-type]
        duration=43200,
        external_id=None,  # type: ignore[arg-type]
    )
    with _lock:
        ENFORCED_KEYS.add(role.access_key_id)
    return {
        "AWS_ACCESS_KEY_ID": role.access_key_id,
        "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
        "AWS_SESSION_TOKEN": role.session_token,
    }


_FUNCTION_PATH = re.compile(r"/20\d\d-\d\d-\d\d/functions/([^/]+)/invocations")


def _lambda_resource(path: str, account: str, region: str) -> str | None:
    """moto checks Invoke against "*": the real resource is the function's ARN."""
    match = _FUNCTION_PATH.search(unquote(path))
    if not match:
        return None
    name = match.group(1)
    if name.startswith("arn:"):
        return name
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def _kms_resource(headers: Any, body: Any, account: str, region: str) -> str | None:
    """moto checks KMS actions against "*": the real resource is the key's ARN (from KeyId,
    which may be a key id, a key ARN or an alias)."""
    if not str(headers.get("X-Amz-Target", "")).startswith("TrentService."):
        return None
    try:
        key_id = json.loads(body or b"{}").get("KeyId")
    except (ValueError, AttributeError):
        return None
    if not isinstance(key_id, str):
        return None
    from moto.kms.models import kms_backends

    try:
        return str(kms_backends[account][region].describe_key(key_id).arn)
    except Exception:  # an unknown key: KMS itself answers NotFound after the check
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def install() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin

    def authenticate(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        match = _CREDENTIAL.search(self.headers.get("Authorization", "") or "")
        if not (match and (match.group(1) in ENFORCED_KEYS or match.group(1).startswith("ASIA"))):
            return
        parsed = urlparse(self.uri)
        path = self.raw_path + ("?" + parsed.query if parsed.query else "")
        if resource == "*":
            resource = (
                _lambda_resource(self.raw_path, self.current_account, self.region)
                or _kms_resource(self.headers, self.raw_body, self.current_account, self.region)
                or resource
            )
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=IAM_ACTION_NAMES.get(self._get_action(), self._get_action()),
        )
        request.check_signature()
        request.check_action_permitted(resource)

    setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authenticate)  # noqa: B010
