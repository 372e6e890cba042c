"""boto3 sessions and clients: one client configuration, and the AWS credential check."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoCredentialsError, ProfileNotFound

from ops.errors import CredentialsError

CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=900)


def aws_session(profile: str | None, region: str) -> boto3.Session:
    """boto3's own credential chain (environment, profile, SSO, instance role)."""
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as err:
        raise CredentialsError(
            f"AWS profile {profile!r} not found; run `aws configure --profile {profile}` or use "
            "the local target (`--target local`; in Python `target='local'`)"
        ) from err


def make_client(session: boto3.Session, service: str, endpoint: str | None) -> Any:
    return session.client(service, endpoint_url=endpoint, config=CLIENT_CONFIG)


def account_of(sts: Any) -> str:
    """The account id; a clear error when AWS credentials are missing."""
    try:
        return str(sts.get_caller_identity()["Account"])
    except NoCredentialsError as err:
        raise CredentialsError(
            "no AWS credentials found; configure them (`aws configure`, AWS_PROFILE or "
            "environment variables) or use the local target (target='local', the default)"
        ) from err
