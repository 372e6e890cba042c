"""boto3 clients for the chosen target: the only place the target changes the endpoint."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoCredentialsError, ProfileNotFound

from ops.errors import CredentialsError, LocalTargetError
from ops.local import process
from ops.local.credentials import OperatorCredentials, read_credentials
from ops.settings import Settings

LOCAL_ACCOUNT = "123456789012"
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=900)


def local_endpoint(settings: Settings) -> str:
    """Start the local target if needed; return its endpoint."""
    return process.ensure_running(settings.local_port, settings.state_dir).endpoint


def local_credentials(settings: Settings) -> OperatorCredentials:
    """The running local target's per-start key (starting it if needed)."""
    local_endpoint(settings)
    credentials = read_credentials(settings.state_dir)
    if credentials is None:
        raise LocalTargetError(
            f"the local target's credentials are missing from {settings.state_dir}; restart it "
            "with `python -m ops local stop` and `python -m ops local start`"
        )
    return credentials


def session(settings: Settings) -> boto3.Session:
    if settings.target == "local":
        credentials = local_credentials(settings)
        return boto3.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            region_name=settings.region,
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
