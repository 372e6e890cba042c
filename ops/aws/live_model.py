"""Which model is live: a published function version that pins it, behind the ``live`` alias.

Changing the model is a configuration change, as Lambda defines one: ``pin`` writes the S3
version id and sha256 of the model into ``$LATEST``'s environment, waits until the update is
complete (``LastUpdateStatus``), publishes a version (an immutable snapshot of code and
configuration) and moves the ``live`` alias to it. Every invocation of the alias after that
runs in an environment of the new version, with the new model; invocations already running
finish on the old one. A rollback is the same move to a version already verified; a redeploy
(which rewrites ``$LATEST``) re-pins the live model on the new code, so the stack's template
and ``ops`` never fight over it. See "Lambda function versions" and "Lambda function aliases"
in the AWS Lambda developer guide.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ops import contract
from ops.aws.target import Target
from ops.errors import DeployError

UPDATE_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class LivePin:
    """The live alias: the function version it points to and the model that version serves."""

    function_version: str
    model_version: str
    model_sha256: str


def _not_found(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code")) == "ResourceNotFoundException"


def current(target: Target) -> LivePin | None:
    """What the live alias serves now; None before the first upload."""
    lam = target.client("lambda")
    name = target.outputs.function_name
    try:
        alias = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)
    except ClientError as err:
        if _not_found(err):
            return None
        raise
    version = str(alias["FunctionVersion"])
    config = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    env = (config.get("Environment") or {}).get("Variables") or {}
    return LivePin(
        version,
        str(env.get(contract.ENV_MODEL_VERSION, "")),
        str(env.get(contract.ENV_MODEL_SHA256, "")),
    )


def _wait_updated(lam: Any, name: str) -> None:
    deadline = time.monotonic() + UPDATE_TIMEOUT_SECONDS
    while True:
        config = lam.get_function_configuration(FunctionName=name)
        status = config.get("LastUpdateStatus", "Successful")
        if status == "Successful":
            return
        if status == "Failed":
            raise DeployError(
                f"updating function {name} failed: {config.get('LastUpdateStatusReason', '')}; "
                "see its configuration in the Lambda console and deploy again"
            )
        if time.monotonic() > deadline:
            raise DeployError(
                f"function {name} was still updating after {UPDATE_TIMEOUT_SECONDS:.0f} s; "
                "try again in a minute"
            )
        time.sleep(1.0)


def pin(target: Target, model_version: str, model_sha256: str) -> LivePin:
    """Make ``model_version`` (S3 version id) the live model; return when the alias points at a
    published function version that serves it."""
    lam = target.client("lambda")
    name = target.outputs.function_name
    _wait_updated(lam, name)
    config = lam.get_function_configuration(FunctionName=name)
    env = dict((config.get("Environment") or {}).get("Variables") or {})
    env.update({contract.ENV_MODEL_VERSION: model_version, contract.ENV_MODEL_SHA256: model_sha256})
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    _wait_updated(lam, name)
    published = str(lam.publish_version(FunctionName=name)["Version"])
    try:
        lam.update_alias(FunctionName=name, Name=contract.LIVE_ALIAS, FunctionVersion=published)
    except ClientError as err:
        if not _not_found(err):
            raise
        lam.create_alias(FunctionName=name, Name=contract.LIVE_ALIAS, FunctionVersion=published)
    return LivePin(published, model_version, model_sha256)


def repin(target: Target) -> LivePin | None:
    """After a deploy rewrote ``$LATEST``: publish the new code with the live model again."""
    live = current(target)
    if live is None or not live.model_version:
        return None
    return pin(target, live.model_version, live.model_sha256)
