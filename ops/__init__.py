"""ops: every operation on the model service, for AWS and the local target.

The notebooks and ``python -m ops`` are thin callers of what this package exports.
"""

from __future__ import annotations

import importlib.util as _util
import sys as _sys

# Outside the project's environment (a system Python), say how to run it instead of failing on
# the first import: `python -m ops` exits 2 with one line, `import ops` raises with it.
_MISSING = [m for m in ("boto3", "pandas", "sklearn", "papermill") if _util.find_spec(m) is None]
if _MISSING:
    _WHY = (
        f"ops needs {', '.join(_MISSING)}, not installed for this Python ({_sys.executable}): "
        "run it in the project's environment, `.venv/bin/python -m ops ...` (or "
        "`. .venv/bin/activate` first), after `make setup`"
    )
    if _sys.argv[:1] == ["-m"]:
        print(f"error: {_WHY}", file=_sys.stderr)
        raise SystemExit(2)
    raise ModuleNotFoundError(_WHY)

from ops.batch import BatchResult, run_batch
from ops.cost import CostEstimate, batch_transform_cost, estimate_cost, seed_estimate
from ops.deploy import DeployResult, deploy, operator_policy
from ops.display import Plan
from ops.errors import (
    AccessDeniedError,
    BatchError,
    ConcurrentChangeError,
    ConfigurationError,
    ConfirmationError,
    CredentialsError,
    DeployError,
    FunctionError,
    FunctionTimeoutError,
    InvalidInputError,
    LocalTargetError,
    ModelFileError,
    ModelNotUploadedError,
    ModelRefusedError,
    ModelVersionMismatchError,
    OpsError,
    PayloadTooLargeError,
    SecurityApprovalError,
    ServiceUnreachableError,
    StackNotDeployedError,
    TeardownError,
    ThrottledError,
)
from ops.model_store import (
    ModelVersion,
    RollbackResult,
    UploadResult,
    list_models,
    rollback_model,
    upload_model,
)
from ops.modelfiles.checking import ModelCheck, check_model
from ops.modelfiles.demo_model import DemoModel, prepare_model, sample_rows, save_demo_model
from ops.modelfiles.manifest import ModelManifest, build_manifest
from ops.modelfiles.pinning import PinResult, pin_function
from ops.modelfiles.profiling import profile_model
from ops.modelfiles.rows import ModelRows, model_rows
from ops.observe import LogEvent, Metrics, Report, drift, logs, metrics
from ops.service.drift import DriftReport
from ops.service.predict import Prediction, predict
from ops.service.rollout import Guardrails, RolloutRecord
from ops.service.status import Status, status
from ops.settings import Settings
from ops.showcase.checks import (
    BadInputAnswers,
    Comparison,
    Latency,
    bad_input_examples,
    compare_batch,
    compare_predictions,
    measure_latency,
)
from ops.showcase.plots import plot_drift, plot_latency, plot_predictions
from ops.targets.local import local_status, start_local, stop_local
from ops.teardown import TeardownResult, teardown

__all__ = [
    "AccessDeniedError",
    "BadInputAnswers",
    "BatchError",
    "BatchResult",
    "Comparison",
    "ConcurrentChangeError",
    "ConfigurationError",
    "ConfirmationError",
    "CostEstimate",
    "CredentialsError",
    "DemoModel",
    "DeployError",
    "DeployResult",
    "DriftReport",
    "FunctionError",
    "FunctionTimeoutError",
    "Guardrails",
    "InvalidInputError",
    "Latency",
    "LocalTargetError",
    "LogEvent",
    "Metrics",
    "ModelCheck",
    "ModelFileError",
    "ModelManifest",
    "ModelNotUploadedError",
    "ModelRefusedError",
    "ModelRows",
    "ModelVersion",
    "ModelVersionMismatchError",
    "OpsError",
    "PayloadTooLargeError",
    "PinResult",
    "Plan",
    "Prediction",
    "Report",
    "RollbackResult",
    "RolloutRecord",
    "SecurityApprovalError",
    "ServiceUnreachableError",
    "Settings",
    "StackNotDeployedError",
    "Status",
    "TeardownError",
    "TeardownResult",
    "ThrottledError",
    "UploadResult",
    "bad_input_examples",
    "batch_transform_cost",
    "build_manifest",
    "check_model",
    "compare_batch",
    "compare_predictions",
    "deploy",
    "drift",
    "estimate_cost",
    "list_models",
    "local_status",
    "logs",
    "measure_latency",
    "metrics",
    "model_rows",
    "operator_policy",
    "pin_function",
    "plot_drift",
    "plot_latency",
    "plot_predictions",
    "predict",
    "prepare_model",
    "profile_model",
    "rollback_model",
    "run_batch",
    "sample_rows",
    "save_demo_model",
    "seed_estimate",
    "start_local",
    "status",
    "stop_local",
    "teardown",
    "upload_model",
]
