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

Two people (or pipelines) may change a stage at once: every move of the alias can name the
alias's ``RevisionId`` as ops last read it, and Lambda then refuses a move based on a stale view
(``PreconditionFailedException``, https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html)
instead of overwriting the other's change: ops raises ``ConcurrentChangeError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from ops.errors import ConcurrentChangeError, DeployError
from ops.targets import Target
from reintento_function import contract

UPDATE_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class LivePin:
    """The live alias: the function version it points to and the model that version serves."""

    function_version: str
    model_version: str
    model_sha256: str
    revision: str | None = None  # the alias's RevisionId after the move


def _not_found(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code")) == "ResourceNotFoundException"


def current(target: Target) -> LivePin | None:
    """What the live alias serves now (its primary version during a rollout); None before the
    first upload."""
    served = shares(target)
    if not served:
        return None
    primary = served[0]
    return LivePin(primary.function_version, primary.model_version, primary.model_sha256)


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


def publish(target: Target, model_version: str, model_sha256: str) -> str:
    """A published function version of the current code pinning ``model_version`` (the alias
    does not move): ``$LATEST``'s environment is updated, then a version is published."""
    lam = target.client("lambda")
    name = target.outputs.function_name
    _wait_updated(lam, name)
    config = lam.get_function_configuration(FunctionName=name)
    env = dict((config.get("Environment") or {}).get("Variables") or {})
    env.update({contract.ENV_MODEL_VERSION: model_version, contract.ENV_MODEL_SHA256: model_sha256})
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    _wait_updated(lam, name)
    version = str(lam.publish_version(FunctionName=name)["Version"])
    _wait_active(lam, name, version)
    return version


VERSION_ACTIVE_WAIT = {"Delay": 1, "MaxAttempts": 300}  # polled each second, up to 5 minutes


def _wait_active(lam: Any, name: str, version: str) -> None:
    """A new version is Pending while Lambda prepares it, and an alias routed to it then fails
    its callers with ResourceConflictException: wait until it is Active (AWS's waiter).
    https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html"""
    try:
        lam.get_waiter("function_active_v2").wait(
            FunctionName=name, Qualifier=version, WaiterConfig=VERSION_ACTIVE_WAIT
        )
    except WaiterError as err:
        raise DeployError(
            f"version {version} of {name} did not become Active within "
            f"{VERSION_ACTIVE_WAIT['Delay'] * VERSION_ACTIVE_WAIT['MaxAttempts']} s (its State: "
            f"`aws lambda get-function --function-name {name} --qualifier {version}`); nothing "
            "was routed to it: try again"
        ) from err


MOVED_MEANWHILE = (
    "the live alias was changed by someone else since ops read it (another upload, rollout or "
    "`rollback-model` on this stage); ops moved nothing more: see who serves with "
    "`python -m ops status`"
)


def route(
    target: Target,
    primary: str,
    canary: str | None = None,
    weight: float = 0.0,
    *,
    revision: str | None = None,
) -> str | None:
    """Point the live alias at ``primary``, sending ``weight`` (0..1) of the calls to ``canary``
    (a weighted alias: https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html).
    Without a canary, every call goes to ``primary``. With ``revision`` (the alias's RevisionId
    as last read), only if nobody moved it since (``ConcurrentChangeError`` otherwise). Returns
    the alias's new RevisionId."""
    lam = target.client("lambda")
    name = target.outputs.function_name
    weights = {canary: round(weight, 4)} if canary is not None and weight > 0 else {}
    routing = {"AdditionalVersionWeights": weights}
    expected = {"RevisionId": revision} if revision is not None else {}
    try:
        moved = lam.update_alias(
            FunctionName=name,
            Name=contract.LIVE_ALIAS,
            FunctionVersion=primary,
            RoutingConfig=routing,
            **expected,
        )
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code"))
        if code == "PreconditionFailedException":
            # our own move, applied but its answer lost (the SDK retried it), is no conflict
            already = _alias_if(lam, name, primary, weights)
            if already is not None:
                return already
            raise ConcurrentChangeError(MOVED_MEANWHILE) from err
        if not _not_found(err):
            raise
        if revision is not None:  # it existed when read: someone deleted it meanwhile
            raise ConcurrentChangeError(MOVED_MEANWHILE) from err
        try:
            moved = lam.create_alias(
                FunctionName=name,
                Name=contract.LIVE_ALIAS,
                FunctionVersion=primary,
                RoutingConfig=routing,
            )
        except ClientError as conflict:  # two first uploads at once: the other one made it
            if str(conflict.response.get("Error", {}).get("Code")) == "ResourceConflictException":
                raise ConcurrentChangeError(MOVED_MEANWHILE) from conflict
            raise
    if not weights:  # every call on primary: unqualified calls ($LATEST) get its model too
        _pin_latest(lam, name, primary)
    return str(moved["RevisionId"]) if moved.get("RevisionId") else None


def _pin_latest(lam: Any, name: str, primary: str) -> None:
    """Pin ``$LATEST`` (what an unqualified Invoke runs) to the model ``primary`` serves: after
    a rollback, or a canary rolled back, it still pinned the last model published, which may be
    the one rejected. Best effort: a publish under way sets ``$LATEST`` itself."""
    pinned = {contract.ENV_MODEL_VERSION, contract.ENV_MODEL_SHA256}
    served = (
        lam.get_function_configuration(FunctionName=name, Qualifier=primary).get("Environment")
        or {}
    ).get("Variables") or {}
    latest = (lam.get_function_configuration(FunctionName=name).get("Environment") or {}).get(
        "Variables"
    ) or {}
    wanted = {k: served[k] for k in pinned if k in served}
    if not wanted or all(latest.get(k) == v for k, v in wanted.items()):
        return
    try:
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {**latest, **wanted}}
        )
    except ClientError as err:
        if str(err.response.get("Error", {}).get("Code")) != "ResourceConflictException":
            raise
        return
    _wait_updated(lam, name)


def _alias_if(lam: Any, name: str, primary: str, weights: dict[str, float]) -> str | None:
    """The live alias's RevisionId if it is already exactly ``primary`` with ``weights``."""
    alias = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)
    routed = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    same = (
        str(alias.get("FunctionVersion")) == primary
        and {str(k): round(float(v), 4) for k, v in routed.items()} == weights
    )
    return str(alias["RevisionId"]) if same and alias.get("RevisionId") else None


@dataclass(frozen=True)
class Share:
    """One function version the live alias routes to: its share of calls and its model."""

    function_version: str
    share: float
    model_version: str
    model_sha256: str


def shares(target: Target) -> tuple[Share, ...]:
    """Who serves the live alias's calls, primary first; () before the first upload."""
    return read(target)[0]


def read(target: Target) -> tuple[tuple[Share, ...], str | None]:
    """Who serves the live alias's calls (primary first), and the alias's RevisionId as read
    (for a move that must not overwrite someone else's); ((), None) before the first upload."""
    lam = target.client("lambda")
    name = target.outputs.function_name
    try:
        alias = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)
    except ClientError as err:
        if _not_found(err):
            return (), None
        raise
    weights = {
        str(k): float(v)
        for k, v in (
            (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        ).items()
    }
    routed = [(str(alias["FunctionVersion"]), 1.0 - sum(weights.values())), *weights.items()]
    out = []
    for version, share in routed:
        config = lam.get_function_configuration(FunctionName=name, Qualifier=version)
        env = (config.get("Environment") or {}).get("Variables") or {}
        out.append(
            Share(
                version,
                round(share, 4),
                str(env.get(contract.ENV_MODEL_VERSION, "")),
                str(env.get(contract.ENV_MODEL_SHA256, "")),
            )
        )
    return tuple(out), (str(alias["RevisionId"]) if alias.get("RevisionId") else None)


def _same_code(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two configurations that differ at most in the pinned model."""
    pinned = {contract.ENV_MODEL_VERSION, contract.ENV_MODEL_SHA256}

    def key(c: dict[str, Any]) -> tuple[Any, ...]:
        env = (c.get("Environment") or {}).get("Variables") or {}
        rest = sorted((k, v) for k, v in env.items() if k not in pinned)
        return (c.get("CodeSha256"), c.get("MemorySize"), c.get("Timeout"), c.get("Role"), rest)

    return key(a) == key(b)


def published_for(target: Target, model_version: str) -> str | None:
    """The newest published version that serves ``model_version`` on the current code and
    configuration (a rollback moves the alias there: no publish, its environments may be warm)."""
    lam = target.client("lambda")
    name = target.outputs.function_name
    latest = lam.get_function_configuration(FunctionName=name)
    found: list[int] = []
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name):
        for config in page.get("Versions", []):
            version = str(config.get("Version"))
            env = (config.get("Environment") or {}).get("Variables") or {}
            if (
                version.isdigit()
                and env.get(contract.ENV_MODEL_VERSION) == model_version
                and _same_code(config, latest)
            ):
                found.append(int(version))
    return str(max(found)) if found else None


def pin(
    target: Target, model_version: str, model_sha256: str, *, revision: str | None = None
) -> LivePin:
    """Make ``model_version`` (S3 version id) the live model for every call; return when the
    alias points at a published function version that serves it. With ``revision``, only if
    nobody moved the alias since it was read (``ConcurrentChangeError``)."""
    published = publish(target, model_version, model_sha256)
    moved = route(target, published, revision=revision)
    return LivePin(published, model_version, model_sha256, moved)
