# mypy: disable-error-code="attr-defined, unused-ignore"
"""Weighted aliases, as Lambda routes them (the ``lambda-alias-routing`` fix).

moto stores an alias's ``RoutingConfig`` but always invokes the primary version, and accepts
any routing. Lambda (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html,
https://docs.aws.amazon.com/lambda/latest/api/API_AliasRoutingConfiguration.html):

- an invocation of the alias runs the additional version with probability its weight (a simple
  probabilistic model, per invocation), the primary otherwise; the answer's
  ``X-Amz-Executed-Version`` and the ``ExecutedVersion`` metric dimension name the one that ran;
- an alias points at two versions at most: ``AdditionalVersionWeights`` has at most one entry,
  its key a published version number (``[0-9]+``), its weight between 0.0 and 1.0;
- both versions must be published (a weighted alias cannot point at ``$LATEST``), differ, and
  have the same execution role.

Refusals are ``InvalidParameterValueException``, as Lambda answers.
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any

VERSION_KEY = re.compile(r"[0-9]+")
_invocation = threading.local()


def invoked_through() -> tuple[str | None, str | None]:
    """How the invocation running on this thread was asked for: its qualifier (a version or an
    alias, None when unqualified) and, when that is an alias, the alias's name."""
    return getattr(_invocation, "qualifier", None), getattr(_invocation, "alias", None)


def additional_weights(routing_config: Any) -> dict[str, float]:
    """The ``AdditionalVersionWeights`` of a stored routing configuration ({} when none)."""
    if not isinstance(routing_config, dict):
        return {}
    weights = routing_config.get("AdditionalVersionWeights") or {}
    return {str(k): float(v) for k, v in weights.items()} if isinstance(weights, dict) else {}


def choose(primary: str, routing_config: Any, draw: float) -> str:
    """The version one invocation of an alias runs, given a uniform ``draw`` in [0, 1)."""
    for version, weight in additional_weights(routing_config).items():
        if draw < weight:
            return version
    return primary


def refusal(backend: Any, function_name: str, primary: str, routing_config: Any) -> str | None:
    """Why Lambda refuses this alias routing (None: it accepts it)."""
    if not isinstance(routing_config, dict):
        return None
    weights = routing_config.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, dict):
        return "AdditionalVersionWeights must be a map of version to weight"
    if not weights:
        return None
    if len(weights) > 1:
        return "An alias can point to a maximum of two function versions"
    ((version, weight),) = weights.items()
    if not VERSION_KEY.fullmatch(str(version)):
        return f"The additional version must be a published version number, not {version}"
    if not isinstance(weight, int | float) or not 0.0 <= float(weight) <= 1.0:
        return f"The weight of version {version} must be between 0.0 and 1.0, not {weight}"
    if str(primary).upper() == "$LATEST":
        return "$LATEST is not supported for an alias pointing to more than 1 version"
    if str(version) == str(primary):
        return f"Version {version} is the alias's primary version and cannot be an additional one"
    roles = set()
    for qualifier in (primary, str(version)):
        fn = backend.get_function_by_name_with_qualifier(function_name, qualifier)
        roles.add(str(fn.role))
    if len(roles) > 1:
        return "Both versions of a weighted alias must have the same execution role"
    return None


def install_qualifier() -> None:
    """Invoke honours its ``Qualifier`` (a version or an alias), as Lambda does: moto read it
    under the wrong name and ran ``$LATEST`` whatever was asked, so a call to an alias never ran
    the version the alias points at. https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
    """
    from moto.awslambda.responses import LambdaResponse

    original: Any = LambdaResponse._get_param

    def _get_param(self: Any, param_name: str, if_none: Any = None) -> Any:
        value = original(self, param_name, if_none)
        if value is if_none and param_name == "qualifier":
            given = (getattr(self, "querystring", None) or {}).get("Qualifier")
            if given:
                return given[0]
        return value

    setattr(LambdaResponse, "_get_param", _get_param)  # noqa: B010


def install() -> None:
    from moto.awslambda import models as lm
    from moto.awslambda.exceptions import InvalidParameterValueException

    backend_cls: Any = lm.LambdaBackend
    storage_cls: Any = lm.LambdaStorage
    original_put: Any = storage_cls.put_alias
    original_update: Any = storage_cls.update_alias
    original_invoke: Any = backend_cls.invoke

    def _check(storage: Any, function_name: str, primary: str, routing_config: Any) -> None:
        why = refusal(storage, function_name, primary, routing_config)
        if why is not None:
            raise InvalidParameterValueException(why)

    def put_alias(
        self: Any,
        name: str,
        function_name: str,
        function_version: str,
        description: str,
        routing_config: Any,
    ) -> Any:
        _check(self, function_name, function_version, routing_config)
        return original_put(
            self, name, function_name, function_version, description, routing_config
        )

    def update_alias(
        self: Any,
        name: str,
        function_name: str,
        function_version: str | None,
        description: str | None,
        routing_config: Any,
    ) -> Any:
        current = self.get_alias(name, function_name)
        primary = function_version or current.function_version
        routing = routing_config if routing_config is not None else current.routing_config
        _check(self, function_name, primary, routing)
        return original_update(
            self, name, function_name, function_version, description, routing_config
        )

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        name, asked = function_name, qualifier
        if ":" in function_name.split(":function:")[-1] and function_name.startswith("arn:"):
            name, asked = function_name.rsplit(":", 1)
        elif ":" in function_name and not function_name.startswith("arn:"):
            name, asked = function_name.split(":", 1)
        alias = None
        if asked:
            try:
                alias = self._lambdas.get_alias(asked, name.split(":")[-1])
            except Exception:  # not an alias: a version, $LATEST, or unknown (moto answers)
                alias = None
        _invocation.qualifier = asked
        _invocation.alias = asked if alias is not None else None
        try:
            if alias is not None and additional_weights(alias.routing_config):
                version = choose(alias.function_version, alias.routing_config, random.random())
                return original_invoke(self, name, version, body, headers, response_headers)
            return original_invoke(self, function_name, qualifier, body, headers, response_headers)
        finally:
            _invocation.qualifier = _invocation.alias = None

    storage_cls.put_alias = put_alias
    storage_cls.update_alias = update_alias
    backend_cls.invoke = invoke


_revision_lock = threading.Lock()


def install_revision_ids() -> None:
    """The ``lambda-alias-revision-id`` fix: every change of an alias gives it a new RevisionId,
    and UpdateAlias with a RevisionId moves it only if that is still the alias's
    (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateAlias.html: "Only update the alias
    if the revision ID matches the ID that's specified. Use this option to avoid modifying an
    alias that has changed since you last read it"; ``PreconditionFailedException``, HTTP 412).
    moto kept the first RevisionId forever and ignored the parameter."""
    import json
    import uuid
    from urllib.parse import unquote

    from moto.awslambda import models as lm
    from moto.awslambda import responses as lr
    from moto.awslambda.exceptions import PreconditionFailedException

    alias_cls: Any = lm.LambdaAlias
    responses_cls: Any = lr.LambdaResponse
    original_update: Any = alias_cls.update
    original_response: Any = responses_cls.update_alias

    def update(self: Any, *args: Any, **kwargs: Any) -> None:
        original_update(self, *args, **kwargs)
        self.revision_id = str(uuid.uuid4())

    def update_alias(self: Any) -> Any:
        wanted = (json.loads(self.body or "{}") or {}).get("RevisionId")
        with _revision_lock:  # the check and the move are one step, as on Lambda
            if wanted:
                function_name = unquote(self.path.rsplit("/")[-3])
                alias_name = unquote(self.path.rsplit("/", 2)[-1])
                current = self.backend.get_alias(name=alias_name, function_name=function_name)
                if current.revision_id != wanted:
                    raise PreconditionFailedException(
                        "The Revision Id provided does not match the latest Revision Id. "
                        "Call the GetAlias API to retrieve the latest Revision Id"
                    )
            return original_response(self)

    alias_cls.update = update
    responses_cls.update_alias = update_alias
