"""The function's contract (``lambda/contract.py``), loaded from the one file the image copies.

``ops`` must not be imported by the image, and the image's modules are not a package ``ops``
can import; so the file is loaded here by path, once, and re-exported. Everything ``ops`` and
``infra`` need to agree on with the function comes from this module.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from ops.modelfiles.versions import PROJECT_ROOT

FUNCTION_CODE = PROJECT_ROOT / "lambda"
CONTRACT_FILE = FUNCTION_CODE / "contract.py"


def load_function_module(stem: str) -> ModuleType:
    """Load one of the function's own modules by path, once (``ops`` is not in the image)."""
    name = f"reintento_function_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FUNCTION_CODE / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_contract = load_function_module("contract")

EVENT_REALTIME: str = _contract.EVENT_REALTIME
EVENT_DESCRIBE: str = _contract.EVENT_DESCRIBE
EVENT_SLICE: str = _contract.EVENT_SLICE
NO_MODEL: str = _contract.NO_MODEL
SHA256_METADATA: str = _contract.SHA256_METADATA
SKLEARN_METADATA: str = _contract.SKLEARN_METADATA
SIGNATURE_METADATA: str = _contract.SIGNATURE_METADATA
SIGNING_KEY_METADATA: str = _contract.SIGNING_KEY_METADATA
SIGNING_ALGORITHM: str = _contract.SIGNING_ALGORITHM
ENV_MODEL_BUCKET: str = _contract.ENV_MODEL_BUCKET
ENV_MODEL_KEY: str = _contract.ENV_MODEL_KEY
ENV_SIGNING_KEY: str = _contract.ENV_SIGNING_KEY
ENV_BATCH_BUCKET: str = _contract.ENV_BATCH_BUCKET
ENV_MODEL_VERSION: str = _contract.ENV_MODEL_VERSION
ENV_MODEL_SHA256: str = _contract.ENV_MODEL_SHA256
LIVE_ALIAS: str = _contract.LIVE_ALIAS
INVALID_REQUESTS_METRIC: str = _contract.INVALID_REQUESTS_METRIC
VERSION_DIMENSIONS: tuple[str, str] = _contract.VERSION_DIMENSIONS
RUN_ID_LENGTH: int = _contract.RUN_ID_LENGTH
MODEL_UNAVAILABLE: str = _contract.MODEL_UNAVAILABLE
DEFAULT_MAX_ROWS: int = _contract.DEFAULT_MAX_ROWS
RESULT_MODEL_METADATA: str = _contract.RESULT_MODEL_METADATA
RESULT_ROWS_METADATA: str = _contract.RESULT_ROWS_METADATA
RESULT_FAILED_METADATA: str = _contract.RESULT_FAILED_METADATA
RESULT_ROW: str = _contract.RESULT_ROW
RESULT_PREDICTION: str = _contract.RESULT_PREDICTION
RESULT_PROBABILITY_PREFIX: str = _contract.RESULT_PROBABILITY_PREFIX
RESULT_ERROR_TYPE: str = _contract.RESULT_ERROR_TYPE
RESULT_ERROR: str = _contract.RESULT_ERROR
SLICE_FORMATS: tuple[str, ...] = _contract.SLICE_FORMATS


def signing_message(model_key: str, sha256: str, sklearn_version: str) -> bytes:
    return bytes(_contract.signing_message(model_key, sha256, sklearn_version))


def batch_key(run_id: str, kind: str, index: int, slice_format: str = "parquet") -> str:
    return str(_contract.batch_key(run_id, kind, index, slice_format))


def batch_pattern(kind: str) -> str:
    return str(_contract.batch_pattern(kind))


def manifest_key(run_id: str) -> str:
    return str(_contract.manifest_key(run_id))


def failure_key(run_id: str, index: int) -> str:
    return str(_contract.failure_key(run_id, index))


def stack_names(prefix: str, stage: str) -> tuple[str, str]:
    model, service = _contract.stack_names(prefix, stage)
    return str(model), str(service)
