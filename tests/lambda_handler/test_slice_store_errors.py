"""A batch slice that cannot reach S3 for a moment is retried, not failed for good: 5xx,
throttling and connection errors are transient; a missing object or a denial is not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)

from reintento_function import contract
from reintento_function.batch_slice import SliceRef, run_slice
from reintento_function.inference_errors import BatchSliceError, InferenceServiceError

REF = SliceRef("bucket", "runs/r1/input/00000.jsonl", "runs/r1/output/00000.jsonl", 0)


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


class FailingS3:
    def __init__(self, err: Exception) -> None:
        self.err = err

    def get_object(self, **_: Any) -> Any:
        raise self.err


@pytest.mark.parametrize(
    "err",
    [
        _client_error("InternalError", 500),
        _client_error("ServiceUnavailable", 503),
        _client_error("SlowDown", 503),
        _client_error("RequestTimeout", 400),
        _client_error("ThrottlingException", 400),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        ResponseStreamingError(error="connection broken while the body streamed"),
        IncompleteReadError(actual_bytes=10, expected_bytes=100),
        SSLError(endpoint_url="https://s3.amazonaws.com", error="EOF"),
    ],
    ids=lambda e: e.response["Error"]["Code"] if isinstance(e, ClientError) else type(e).__name__,
)
def test_a_transient_s3_error_is_retried_by_the_state_machine(err: Exception) -> None:
    # WHEN S3 fails for a moment while a slice is read
    with pytest.raises(InferenceServiceError) as raised:
        run_slice(FailingS3(err), REF, model=None)  # type: ignore[arg-type]
    # THEN the error type is one the state machine retries (not caught as a failed slice)
    assert type(raised.value).__name__ in contract.TRANSIENT_ERROR_TYPES
    assert raised.value.transient


@pytest.mark.parametrize(
    "err", [_client_error("NoSuchKey", 404), _client_error("AccessDenied", 403)]
)
def test_a_missing_or_denied_slice_fails_for_good(err: Exception) -> None:
    with pytest.raises(BatchSliceError) as raised:
        run_slice(FailingS3(err), REF, model=None)  # type: ignore[arg-type]
    assert type(raised.value).__name__ in contract.PERMANENT_ERROR_TYPES
