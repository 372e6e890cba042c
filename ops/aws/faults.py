"""What AWS (or the local target) answers when something is wrong, as ``OpsError``s with a next
step: the one place that turns botocore's exceptions, and the ``reintento_local`` package's own
errors, into ours.

Every public verb is wrapped with ``user_facing``: a ``NoCredentialsError``, an expired token, an
``AccessDenied``, throttling, an unreachable endpoint or a resource that is gone reaches the
caller as an ``OpsError`` subclass, with the original chained (``raise ... from err``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)

from ops.errors import (
    AccessDeniedError,
    ConfigurationError,
    CredentialsError,
    DeployError,
    LocalTargetError,
    OpsError,
    ServiceUnreachableError,
    StackNotDeployedError,
    ThrottledError,
)
from reintento_local import ImageBuildError
from reintento_local import LocalTargetError as LocalTargetFailure

_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
    "RequestTimeTooSkewed",
}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}
_THROTTLED_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "SlowDown",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
}
_GONE_CODES = {
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "StateMachineDoesNotExist",
    "ExecutionDoesNotExist",
    "NotFoundException",
    "404",
}


def translate(err: Exception) -> OpsError | None:
    """The ``OpsError`` for a botocore exception or a local target's error (None: neither)."""
    if isinstance(err, ImageBuildError):
        return DeployError(str(err))
    if isinstance(err, LocalTargetFailure):
        return LocalTargetError(str(err))
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return CredentialsError(
            "no AWS credentials found; configure them (`aws configure`, `aws sso login`, "
            "AWS_PROFILE or environment variables) or use the local target (`--target local`; "
            "in Python `target='local'`)"
        )
    if isinstance(err, SSOError | TokenRetrievalError):
        # an expired or never-started IAM Identity Center (SSO) session: botocore's
        # UnauthorizedSSOTokenError, SSOTokenLoadError, or the token provider's refresh failure
        return CredentialsError(
            f"your AWS SSO session has expired or was never started ({err}); run `aws sso login` "
            "(with `--profile NAME` for a named profile), then try again"
        )
    if isinstance(err, ProfileNotFound):
        return CredentialsError(f"{err}; run `aws configure --profile NAME` or choose another")
    if isinstance(err, NoRegionError):
        return ConfigurationError(
            "no AWS region set; set AWS_REGION or pass `--region` (in Python `region=`)"
        )
    if isinstance(err, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        return ServiceUnreachableError(
            f"cannot reach the service ({err}); check the network, or for the local target "
            "run `python -m ops local status` (start it with `python -m ops local start`)"
        )
    if isinstance(err, ReadTimeoutError):
        return ServiceUnreachableError(f"the service did not answer in time ({err}); try again")
    if isinstance(err, ParamValidationError):
        return ConfigurationError(f"a value AWS cannot accept: {err}")
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        operation = getattr(err, "operation_name", "the call")
        if code in _CREDENTIAL_CODES:
            return CredentialsError(
                f"{operation} was refused: {code} ({message}); refresh your credentials "
                "(`aws sso login`, new keys), or for the local target use the key "
                "`python -m ops local status` prints"
            )
        if code in _DENIED_CODES:
            return AccessDeniedError(
                f"{operation} was denied ({message or code}); your identity lacks a permission "
                "this needs: `python -m ops operator-policy` prints all that the verbs need"
            )
        if code in _THROTTLED_CODES:
            return ThrottledError(f"{operation} was throttled by AWS ({code}); try again shortly")
        if code in _GONE_CODES or "does not exist" in message:
            return StackNotDeployedError(
                f"{operation}: {message or code}; something the stacks created is gone, run "
                "`python -m ops deploy` (and `upload-model`) again"
            )
        return OpsError(f"{operation} failed: {code}: {message}")
    if isinstance(err, BotoCoreError):
        return OpsError(f"the AWS SDK failed: {err}")
    return None


def user_facing[F: Callable[..., Any]](verb: F) -> F:
    """Wrap a public verb: botocore's exceptions leave it as ``OpsError``s."""

    @functools.wraps(verb)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return verb(*args, **kwargs)
        except (BotoCoreError, ClientError, LocalTargetFailure) as err:
            translated = translate(err)
            if translated is None:
                raise
            raise translated from err

    return cast(F, wrapper)
