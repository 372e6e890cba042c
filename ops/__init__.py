"""ops: every operation on the model service, for AWS and the local target.

The notebooks and ``python -m ops`` are thin callers of what this package exports.
"""

from __future__ import annotations

from ops.demo_model import DemoModel, save_demo_model
from ops.errors import (
    BatchError,
    ConfigurationError,
    ConfirmationError,
    CredentialsError,
    DeployError,
    FunctionError,
    InvalidInputError,
    LocalTargetError,
    ModelFileError,
    ModelNotUploadedError,
    ModelVersionMismatchError,
    OpsError,
    PayloadTooLargeError,
    StackNotDeployedError,
)
from ops.manifest import ModelManifest, build_manifest

__all__ = [
    "BatchError",
    "ConfigurationError",
    "ConfirmationError",
    "CredentialsError",
    "DemoModel",
    "DeployError",
    "FunctionError",
    "InvalidInputError",
    "LocalTargetError",
    "ModelFileError",
    "ModelManifest",
    "ModelNotUploadedError",
    "ModelVersionMismatchError",
    "OpsError",
    "PayloadTooLargeError",
    "StackNotDeployedError",
    "build_manifest",
    "save_demo_model",
]
