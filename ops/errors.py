"""One base error and its subclasses; every message says what happened and what to do next."""

from __future__ import annotations

from typing import Any

from reintento_function import contract


class OpsError(Exception):
    """Base of every error ops raises on purpose."""


class ConfigurationError(OpsError):
    """A setting is missing or has a value ops cannot use."""


class CredentialsError(OpsError):
    """No AWS credentials for the aws target."""


class ModelFileError(OpsError):
    """A model file cannot be read or is not a fitted scikit-learn estimator."""


class ModelVersionMismatchError(OpsError):
    """The model's scikit-learn version differs from the function's pinned one."""


class StackNotDeployedError(OpsError):
    """The stack (or one of its outputs) is not there."""


class LocalTargetError(OpsError):
    """The local target could not be started, reached or used."""


class DeployError(OpsError):
    """Synth or deploy failed."""


class ConfirmationError(OpsError):
    """A destructive operation was asked without the right confirmation."""


class SecurityApprovalError(ConfirmationError):
    """A deploy would change IAM or resource policies and was not approved: ``changes`` lists
    them (``ops.aws.security_changes.SecurityChange``)."""

    def __init__(self, changes: Any) -> None:
        self.changes = tuple(changes)
        shown = "\n".join(str(c) for c in self.changes)
        super().__init__(
            f"deploy would change who may do what ({len(self.changes)} IAM or resource-policy "
            f"change(s)), nothing was deployed:\n{shown}\nReview them, then deploy with "
            "approve_security_changes=True (CLI: --yes, or answer y when asked; notebook 01: "
            "-p APPROVE_SECURITY_CHANGES=True)"
        )


class ConcurrentChangeError(OpsError):
    """Someone else changes who serves this stage: a rollout is running, or the live alias moved
    since ops read it (Lambda's ``RevisionId`` did not match). Nothing more was changed."""


class PayloadTooLargeError(OpsError):
    """Input over the synchronous invoke limit."""


class FunctionError(OpsError):
    """The function answered with an error: ``error_type`` and ``details`` say which and why."""

    def __init__(self, message: str, *, error_type: str, details: Any = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.details = details


class InvalidInputError(FunctionError):
    """The function refused the rows: ``details`` lists row, field and problem."""

    def __init__(
        self, message: str, *, error_type: str, details: Any = None, expected_features: Any = None
    ) -> None:
        super().__init__(message, error_type=error_type, details=details)
        self.expected_features = expected_features

    def __str__(self) -> str:
        shown = "; ".join(
            f"row {d.get(contract.DETAIL_ROW)}: {d.get(contract.DETAIL_FIELD)}: "
            f"{d.get(contract.DETAIL_PROBLEM)}"
            for d in (self.details or [])[:5]
        )
        return f"{self.args[0]} ({shown})" if shown else str(self.args[0])


class ModelRefusedError(FunctionError):
    """The function refused the model it was given to serve (not signed for it, saved with
    another scikit-learn, not a fitted estimator): the model live before still serves."""


class ModelNotUploadedError(FunctionError):
    """The function has no model to serve: run upload_model."""


class FunctionTimeoutError(FunctionError):
    """The function ran out of time."""


class BatchError(OpsError):
    """A batch execution did not finish."""


class TeardownError(OpsError):
    """Teardown stopped part way: what is left, and how to finish, is in the message."""


class AccessDeniedError(OpsError):
    """AWS refused a call for lack of permission."""


class ThrottledError(OpsError):
    """AWS throttled a call; it may pass on a later try."""


class ServiceUnreachableError(OpsError):
    """An AWS endpoint (or the local target) could not be reached."""


# What the CLI calls a refusal (exit 2: the input, the set-up or a confirmation is wrong) rather
# than a fault (exit 1: something failed while doing what was asked)
REFUSALS: tuple[type[OpsError], ...] = (
    ConcurrentChangeError,
    ConfigurationError,
    CredentialsError,
    ConfirmationError,
    InvalidInputError,
    PayloadTooLargeError,
    ModelVersionMismatchError,
    ModelFileError,
    ModelRefusedError,
)
