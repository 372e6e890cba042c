"""Invoke the function and turn its answers into values or typed errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from ops.errors import (
    FunctionError,
    FunctionTimeoutError,
    InvalidInputError,
    ModelNotUploadedError,
    ModelRefusedError,
    OpsError,
    PayloadTooLargeError,
    StackNotDeployedError,
)
from ops.targets import Target
from reintento_function import contract

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024


@dataclass(frozen=True)
class Invocation:
    body: dict[str, Any]
    latency_ms: float


# ------------------------------------------------------------------ the function's answers, typed
# The one reader of the function's JSON answers: verbs get these, never dicts.


@dataclass(frozen=True)
class ServedModel:
    """Which model version answered (``model`` in every answer)."""

    version_id: str
    sha256: str
    sklearn_version: str
    engine: str = contract.ENGINE_SKLEARN  # which engine answered (contract.ENGINE_*)


@dataclass(frozen=True)
class FeatureContract:
    """What the model accepts for one feature, as the function derived it from the model."""

    name: str
    kind: str
    nullable: bool
    categories: tuple[Any, ...] | None


@dataclass(frozen=True)
class ModelDescription:
    """The answer to ``describe_model``: the served model and the input it expects."""

    model: ServedModel
    features: tuple[FeatureContract, ...]
    classes: tuple[Any, ...] | None
    max_rows: int


@dataclass(frozen=True)
class PredictionAnswer:
    """The answer to a realtime request."""

    predictions: tuple[Any, ...]
    probabilities: tuple[tuple[float, ...], ...] | None
    classes: tuple[Any, ...] | None
    model: ServedModel
    latency_ms: float


def _unexpected(what: str, body: Any) -> FunctionError:
    return FunctionError(
        f"the function's answer has no valid {what}: the deployed function is older or newer "
        "than this ops; run `python -m ops deploy`",
        error_type="UnexpectedAnswer",
        details=str(body)[:500],
    )


def _served(body: dict[str, Any]) -> ServedModel:
    model = body.get(contract.ANSWER_MODEL)
    if not isinstance(model, dict):
        raise _unexpected(contract.ANSWER_MODEL, body)
    return ServedModel(
        str(model.get(contract.MODEL_VERSION_ID)),
        str(model.get(contract.MODEL_SHA256)),
        str(model.get(contract.MODEL_SKLEARN_VERSION)),
        str(model.get(contract.MODEL_ENGINE) or contract.ENGINE_SKLEARN),
    )


def _classes(body: dict[str, Any]) -> tuple[Any, ...] | None:
    classes = body.get(contract.ANSWER_CLASSES)
    return tuple(classes) if isinstance(classes, list) else None


def predict_rows(target: Target, payload: bytes) -> PredictionAnswer:
    """Realtime predictions for a realtime event's ``payload`` (``request_payload``'s: checked
    and serialized once); a refusal raises ``InvalidInputError``."""
    answer = invoke_function(target, payload)
    body = answer.body
    predictions = body.get(contract.ANSWER_PREDICTIONS)
    if not isinstance(predictions, list):
        raise _unexpected(contract.ANSWER_PREDICTIONS, body)
    probabilities = body.get(contract.ANSWER_PROBABILITIES)
    return PredictionAnswer(
        tuple(predictions),
        tuple(tuple(p) for p in probabilities) if isinstance(probabilities, list) else None,
        _classes(body),
        _served(body),
        answer.latency_ms,
    )


def describe_model(target: Target, qualifier: str | None = None) -> ModelDescription:
    """Ask the function to look for a new model version now; which one serves, what it takes.
    Through the live alias, or the function version ``qualifier`` names."""
    event: dict[str, Any] = {contract.EVENT_DESCRIBE: {}}
    if qualifier is None:
        body = invoke_function(target, event).body
    else:
        lam = target.client("lambda")
        name = target.outputs.function_name
        body = invoke(lam, name, event, qualifier, target.note_invocation).body
    if body.get(contract.ANSWER_MODEL) is None and isinstance(body.get(contract.NO_MODEL), str):
        raise ModelNotUploadedError(
            f"the function has no model to serve: {body[contract.NO_MODEL]}",
            error_type="NoModelYet",
        )
    features = tuple(
        FeatureContract(
            str(f.get(contract.FEATURE_NAME)),
            str(f.get(contract.FEATURE_KIND)),
            bool(f.get(contract.FEATURE_NULLABLE)),
            _categories(f.get(contract.FEATURE_CATEGORIES)),
        )
        for f in body.get(contract.DESCRIBE_FEATURES) or []
        if isinstance(f, dict)
    )
    max_rows = body.get(contract.DESCRIBE_MAX_ROWS)
    return ModelDescription(
        _served(body), features, _classes(body), max_rows if isinstance(max_rows, int) else 0
    )


def _categories(categories: Any) -> tuple[Any, ...] | None:
    return tuple(categories) if isinstance(categories, list) else None


def image_sklearn(target: Target) -> str | None:
    """The scikit-learn the deployed function's image runs (its configuration says, as the
    stack set it from the image's lock); None when the function does not say."""
    try:
        config = target.client("lambda").get_function_configuration(
            FunctionName=target.outputs.function_name
        )
    except ClientError:
        return None
    variables = (config.get("Environment") or {}).get("Variables") or {}
    value = variables.get(contract.ENV_RUNTIME_SKLEARN)
    return str(value) if value else None


def invoke_function(target: Target, event: dict[str, Any] | bytes) -> Invocation:
    """Invoke the stack's function through its ``live`` alias (the published version that pins
    the live model); if it is gone, re-read the stack once (deployed again?). The target notes
    each invocation's request id (``observe`` waits for their REPORT lines)."""
    lam = target.client("lambda")
    noted = target.note_invocation
    try:
        return invoke(lam, target.outputs.function_name, event, contract.LIVE_ALIAS, noted)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    target.forget_outputs()
    name = target.outputs.function_name
    try:
        return invoke(lam, name, event, contract.LIVE_ALIAS, noted)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        try:
            lam.get_function(FunctionName=name)  # the function is there: only the alias is not
        except ClientError as gone:
            raise StackNotDeployedError(
                f"the function {name} is gone; run `python -m ops deploy` (and upload-model) again"
            ) from gone
        raise ModelNotUploadedError(
            "no model is live yet (the function has no live alias); upload one with "
            "`python -m ops upload-model models/mejor_modelo.pkl`",
            error_type="NoLiveModel",
        ) from err


# Invoke refuses a function that is not Active: Inactive (idle long enough for Lambda to reclaim
# its resources; a container image after some days unused) answers ResourceNotReadyException
# and starts restoring, Pending answers ResourceConflictException. ops waits until it is Active
# (GetFunction's State, AWS's function_active_v2 waiter) and retries once.
# https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
NOT_ACTIVE = frozenset({"ResourceNotReadyException", "ResourceConflictException"})
ACTIVE_WAIT = {"Delay": 2, "MaxAttempts": 150}  # up to 5 minutes


def invoke(
    lam: Any,
    function_name: str,
    event: dict[str, Any] | bytes,
    qualifier: str | None = None,
    on_request: Callable[[str], None] | None = None,
) -> Invocation:
    """Invoke synchronously; raise the typed error for a function error or an error answer. A
    function that is not Active is waited for, then invoked once more. ``on_request`` gets the
    request id of each invocation that ran (Lambda answers with it; its REPORT line has it).
    ``event`` may be given as ``request_payload``'s bytes (serialized once)."""
    payload = event if isinstance(event, bytes) else request_payload(event)
    try:
        return _invoke_once(lam, function_name, payload, qualifier, on_request)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in NOT_ACTIVE:
            raise
        extra = {"Qualifier": qualifier} if qualifier else {}
        try:
            lam.get_waiter("function_active_v2").wait(
                FunctionName=function_name, WaiterConfig=ACTIVE_WAIT, **extra
            )
        except WaiterError as stuck:
            raise FunctionError(
                f"the function {function_name} did not become Active within 5 minutes "
                f"({err.response['Error'].get('Message', '')}); check its State with "
                "`aws lambda get-function` and try again",
                error_type="FunctionNotActive",
            ) from stuck
    return _invoke_once(lam, function_name, payload, qualifier, on_request)


def request_payload(event: dict[str, Any]) -> bytes:
    """The invoke's payload, or ``PayloadTooLargeError`` over Lambda's synchronous limit
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 6 MB request)."""
    payload = json.dumps(event, allow_nan=True).encode()
    if len(payload) > SYNC_PAYLOAD_LIMIT:
        raise PayloadTooLargeError(
            f"the request is {len(payload):,} bytes, over the {SYNC_PAYLOAD_LIMIT:,}-byte limit of "
            "a synchronous invoke; send large inputs as a batch (`python -m ops run-batch`, "
            "in Python `ops.run_batch`)"
        )
    return payload


def _invoke_once(
    lam: Any,
    function_name: str,
    payload: bytes,
    qualifier: str | None = None,
    on_request: Callable[[str], None] | None = None,
) -> Invocation:
    started = time.perf_counter()
    extra = {"Qualifier": qualifier} if qualifier else {}
    response = lam.invoke(FunctionName=function_name, Payload=payload, **extra)
    latency = (time.perf_counter() - started) * 1000
    request_id = response.get("ResponseMetadata", {}).get("RequestId")
    if on_request is not None and request_id:
        on_request(str(request_id))
    raw = response["Payload"].read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {
            "errorType": "Runtime.InvalidResponse",
            "errorMessage": raw[:500].decode(errors="replace"),
        }
    if response.get("FunctionError"):
        raise function_error(body)
    if isinstance(body, dict) and isinstance(body.get(contract.ANSWER_ERROR), dict):
        error = body[contract.ANSWER_ERROR]
        raise InvalidInputError(
            str(error.get(contract.ERROR_MESSAGE, "invalid input")),
            error_type=str(error.get(contract.ERROR_TYPE, contract.INVALID_INPUT)),
            details=error.get(contract.ERROR_DETAILS, []),
            expected_features=error.get(contract.ERROR_EXPECTED_FEATURES),
        )
    return Invocation(body if isinstance(body, dict) else {"result": body}, latency)


def function_error(body: Any) -> FunctionError:
    """The typed exception for a Lambda function error payload."""
    error_type = str(body.get("errorType", "Unknown")) if isinstance(body, dict) else "Unknown"
    message = str(body.get("errorMessage", body)) if isinstance(body, dict) else str(body)
    if error_type == contract.MODEL_UNAVAILABLE:
        return ModelNotUploadedError(
            f"the function has no model to serve: {message}", error_type=error_type, details=body
        )
    if error_type == "Sandbox.Timedout":
        return FunctionTimeoutError(
            f"the function timed out: {message}; send fewer rows or deploy with a longer "
            "timeout (context timeout_seconds)",
            error_type=error_type,
            details=body,
        )
    return FunctionError(
        f"the function failed with {error_type}: {message}", error_type=error_type, details=body
    )


def verify_live(
    target: Target, version_id: str, timeout: float = 120.0, qualifier: str | None = None
) -> float:
    """Ask the live alias (or the function version ``qualifier``) which model serves until it
    answers ``version_id`` (a cold start of the new function version loads and verifies it); a
    refusal of the model is raised at once."""
    started = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - started < timeout:
        try:
            if describe_model(target, qualifier).model.version_id == version_id:
                return time.monotonic() - started
        except FunctionError as err:
            if err.error_type in (contract.MODEL_INTEGRITY_ERROR, contract.MODEL_VERSION_ERROR):
                raise ModelRefusedError(
                    str(err), error_type=err.error_type, details=err.details
                ) from err
            last = err
        except OpsError as err:
            last = err
        time.sleep(0.5)
    raise ModelNotUploadedError(
        f"the function did not serve model version {version_id} within {timeout:.0f} s"
        + (f" (last answer: {last})" if last else "")
        + "; check `python -m ops logs`",
        error_type="Timeout",
    )
