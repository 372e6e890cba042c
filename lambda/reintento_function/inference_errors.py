"""Typed faults of the inference service.

The class name of each exception is the ``errorType`` the Lambda runtime reports, which is what the
Step Functions ``Retry``/``Catch`` rules match: only the ``...UnreachableError``s are transient.
Bad *input* is never raised as one of these: it is answered with a structured error response.
"""

from __future__ import annotations

from typing import ClassVar


class InferenceServiceError(Exception):
    """Base of the faults of the service itself (not of the request)."""

    transient: ClassVar[bool] = False  # may a retry pass? (the state machine retries these)


class ModelUnavailableError(InferenceServiceError):
    """The model object is missing or cannot be read with the function's permissions."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing  # no model there (404), as opposed to not readable


class ModelIntegrityError(InferenceServiceError):
    """The model bytes do not match the recorded sha256, or are not a usable scikit-learn model."""


class ModelVersionError(InferenceServiceError):
    """The model was pickled with a scikit-learn version other than the runtime's."""


class ModelStoreUnreachableError(InferenceServiceError):
    """S3 could not be reached after bounded retries (transient: Step Functions retries it)."""

    transient = True


class BatchStoreUnreachableError(InferenceServiceError):
    """The batch bucket answered a transient failure (5xx, throttling, a dropped connection) while
    a slice was read or written (transient: Step Functions retries it)."""

    transient = True


class BatchSliceError(InferenceServiceError):
    """A batch work item could not be read or written (not a row problem)."""


class InternalError(InferenceServiceError):
    """An unexpected fault inside the function; its message echoes nothing of the request (the
    details are in the function's log, under the request id)."""
