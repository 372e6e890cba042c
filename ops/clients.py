"""boto3 clients for the chosen target: the only place the target changes the endpoint."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoCredentialsError, ProfileNotFound

from ops.errors import CredentialsError
from ops.local import process
from ops.settings import Settings

LOCAL_ACCOUNT = "123456789012"
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=900)


def local_endpoint(settings: Settings) -> str:
    """Start the local target if needed; return its endpoint."""
    return process.ensure_running(settings.local_port, settings.state_dir).endpoint


def session(settings: Settings) -> boto3.Session:
    if settings.target == "local":
        return boto3.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=settings.region
        )
    try:
        return boto3.Session(profile_name=settings.profile, region_name=settings.region)
    except ProfileNotFound as err:
        raise CredentialsError(
            f"AWS profile {settings.profile!r} not found; run `aws configure --profile "
            f"{settings.profile}` or use the local target (target='local')"
        ) from err


def client(settings: Settings, service: str) -> Any:
    """A client for ``service`` on the target (boto3's credential chain for AWS)."""
    endpoint = local_endpoint(settings) if settings.target == "local" else None
    return session(settings).client(service, endpoint_url=endpoint, config=_CONFIG)


def check_credentials(settings: Settings) -> str:
    """The account id; a clear error when AWS credentials are missing."""
    try:
        return str(client(settings, "sts").get_caller_identity()["Account"])
    except NoCredentialsError as err:
        raise CredentialsError(
            "no AWS credentials found; configure them (`aws configure`, AWS_PROFILE or "
            "environment variables) or use the local target (target='local', the default)"
        ) from err
