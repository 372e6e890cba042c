"""Invoke the function and turn its answers into values or typed errors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ops.errors import (
    FunctionError,
    FunctionTimeoutError,
    InvalidInputError,
    ModelNotUploadedError,
    PayloadTooLargeError,
)
from ops.target import Target

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024


@dataclass(frozen=True)
class Invocation:
    body: dict[str, Any]
    latency_ms: float


def invoke_function(target: Target, event: dict[str, Any]) -> Invocation:
    """Invoke the stack's function; if it is gone, re-read the stack once (deployed again?)."""
    try:
        return invoke(target.client("lambda"), target.outputs.function_name, event)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        target.forget_outputs()
        return invoke(target.client("lambda"), target.outputs.function_name, event)


def invoke(lam: Any, function_name: str, event: dict[str, Any]) -> Invocation:
    """Invoke synchronously; raise the typed error for a function error or an error answer."""
    payload = json.dumps(event, allow_nan=True).encode()
    if len(payload) > SYNC_PAYLOAD_LIMIT:
        raise PayloadTooLargeError(
            f"the request is {len(payload):,} bytes, over the {SYNC_PAYLOAD_LIMIT:,}-byte limit of "
            "a synchronous invoke; use run_batch() for large inputs"
        )
    started = time.perf_counter()
    response = lam.invoke(FunctionName=function_name, Payload=payload)
    latency = (time.perf_counter() - started) * 1000
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
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        raise InvalidInputError(
            str(error.get("message", "invalid input")),
            error_type=str(error.get("type", "InvalidInput")),
            details=error.get("details", []),
            expected_features=error.get("expected_features"),
        )
    return Invocation(body if isinstance(body, dict) else {"result": body}, latency)


def function_error(body: Any) -> FunctionError:
    """The typed exception for a Lambda function error payload."""
    error_type = str(body.get("errorType", "Unknown")) if isinstance(body, dict) else "Unknown"
    message = str(body.get("errorMessage", body)) if isinstance(body, dict) else str(body)
    if error_type == "ModelUnavailableError":
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
