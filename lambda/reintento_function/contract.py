"""What the function, ``ops`` and the stacks must agree on, with no dependency at all.

The image copies the function's package; ``ops`` and ``infra`` import this module from it, so a
rename here changes every side at once. Keep it free of imports beyond the standard library.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass

# Event kinds the function answers (the top-level key of the event)
EVENT_REALTIME = "instances"
EVENT_DESCRIBE = "describe_model"
EVENT_SLICE = "batch_slice"
# the describe-model answer before any model is uploaded: {"model": null, NO_MODEL: why}
NO_MODEL = "no_model"

# S3 object metadata of the model object, written by `ops upload-model`, checked by the function
SHA256_METADATA = "sha256"
SKLEARN_METADATA = "sklearn-version"
SIGNATURE_METADATA = "signature"
SIGNING_KEY_METADATA = "signing-key"
# the sha256 of the manifest uploaded beside the model (its JSON: features, feature profile);
# signed with the rest, so the manifest is as authentic as the model
MANIFEST_SHA256_METADATA = "manifest-sha256"
# signed too, so a copy under another time, serial or stage no longer verifies
UPLOADED_AT_METADATA = "uploaded-at"
SERIAL_METADATA = "serial"  # one more than the model object's newest version had
STAGE_METADATA = "stage"
# shown by `ops list-models` (not signed, not read by the function)
ESTIMATOR_METADATA = "estimator"
PYTHON_METADATA = "python"
# the S3 version id of that manifest (unsigned: a pointer; the function reads that version and
# uses it only if its bytes have the signed sha256, so a wrong pointer finds nothing usable)
MANIFEST_VERSION_METADATA = "manifest-version"
# manifests over this size are not read by the function (a profile is a few hundred kilobytes)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def model_manifest_key(model_key: str) -> str:
    """Where a model's manifest is stored beside it in the model bucket (``.pkl`` -> ``.json``)."""
    return model_key.rsplit(".", 1)[0] + ".json"


def model_onnx_key(model_key: str) -> str:
    """Where a model's compiled form is stored beside it (``.pkl`` -> ``.onnx``)."""
    return model_key.rsplit(".", 1)[0] + ".onnx"


# The manifest's JSON (``ops.modelfiles.manifest.ModelManifest``), as the function reads it: what
# each feature accepts (``accepted_input``: FEATURE_* keys), the classes, and the engine record
MANIFEST_FEATURES = "features"
MANIFEST_FEATURE_NAMES = "feature_names"  # null for a model fitted without names
MANIFEST_CLASSES = "classes"
MANIFEST_ENGINE = "engine"
# the engine record: which engine serves the model and why (``ops.modelfiles.engine``); for the
# ONNX engine, the compiled file's sha256 and S3 version (the manifest's signed sha256 covers both)
ENGINE_NAME = "engine"
ENGINE_REASON = "reason"
ENGINE_ONNX = "onnx"
ENGINE_SKLEARN = "sklearn"
ENGINE_ONNX_SHA256 = "onnx_sha256"
ENGINE_ONNX_VERSION = "onnx_version"


# The deployer signs the model's manifest with an asymmetric AWS KMS key (SIGN_VERIFY); the
# function verifies it with kms:Verify before it reads a byte of the pickle.
SIGNING_ALGORITHM = "ECDSA_SHA_256"
SIGNATURE_PURPOSE = "reintento-model-signature/1"

# The function's environment (set by the stack)
ENV_MODEL_BUCKET = "MODEL_BUCKET"
ENV_MODEL_KEY = "MODEL_KEY"
ENV_SIGNING_KEY = "MODEL_SIGNING_KEY_ARN"
ENV_STAGE = "MODEL_STAGE"  # the stage the function serves: a model signed for another is refused
ENV_BATCH_BUCKET = "BATCH_BUCKET"
# The scikit-learn the image installs (its lock's pin, set by the stack): a model saved with
# another version is refused, so ops checks it before uploading
ENV_RUNTIME_SKLEARN = "RUNTIME_SKLEARN_VERSION"
# The model version a published function version serves (set by `ops upload-model` and
# `rollback-model` before publishing; unset: follow the newest S3 version, refreshed every
# MODEL_REFRESH_SECONDS, which only an unqualified invoke of $LATEST does)
ENV_MODEL_VERSION = "MODEL_VERSION_ID"
ENV_MAX_ROWS = "MAX_ROWS"  # rows per realtime request (DEFAULT_MAX_ROWS when unset)
ENV_MODEL_REFRESH_SECONDS = "MODEL_REFRESH_SECONDS"  # how often $LATEST looks for a new model
ENV_MODEL_SHA256 = "MODEL_SHA256"
# The cores the function may compute on: the stack sets it from the memory (Lambda gives one vCPU
# per 1,769 MB); scikit-learn's OpenMP reads it, and the ONNX engine runs that many pieces of rows
ENV_CPU_THREADS = "OMP_NUM_THREADS"
# The alias callers and the batch state machine invoke; ops moves it to the published version
# that pins the live model
LIVE_ALIAS = "live"
# A rollout's guardrails compare versions: besides the service-wide InvalidRequests, the function
# counts each invalid request under these dimensions too (the same names as AWS/Lambda's
# version-scoped metrics), so ops can read the rate of invalid requests of one version
INVALID_REQUESTS_METRIC = "InvalidRequests"
VERSION_DIMENSIONS = ("FunctionName", "ExecutedVersion")

# Drift: the function compares the valid rows of each realtime request and batch slice with the
# served model's training profile (its signed manifest's ``profile``) and counts, per version:
PROFILED_ROWS_METRIC = "ProfiledRows"  # rows compared (VERSION_DIMENSIONS)
# and per feature (VERSION_DIMENSIONS + FEATURE_DIMENSION; only a feature with values out of
# profile, or more nulls than its training share):
OUT_OF_RANGE_METRIC = "OutOfRangeRows"  # numeric values outside the training minimum..maximum
UNSEEN_METRIC = "UnseenCategoryRows"  # categories the training data never had
NULL_METRIC = "NullRows"  # missing values (compared with the training share of nulls)
FEATURE_DIMENSION = "Feature"
# The drift alarm's two metrics, per function (ALARM_DIMENSIONS, whatever version answered):
# the rows compared (PROFILED_ROWS_METRIC again) and, of each call, its worst feature's values
# out of profile; the alarm divides their sums over 5 minutes
OUT_OF_PROFILE_METRIC = "OutOfProfileRows"
ALARM_DIMENSIONS = ("FunctionName",)
# Realtime latency: the handler's own time for each realtime request, in ms, per function
# (ALARM_DIMENSIONS, whatever version answered; a batch slice's minutes are not among them). The
# latency alarm watches its p99 against a threshold that ops derives at deploy from what the
# stage measured (ops/service/latency_alarm.py; the stacks' `latency_alarm_ms`)
REALTIME_LATENCY_METRIC = "RealtimeLatency"
# the alarm's threshold when nothing was measured (and its ceiling): this share of the timeout
LATENCY_ALARM_TIMEOUT_SHARE = 0.8
MAX_PROFILED_FEATURES = 100  # features counted per model: the metrics' cardinality is bounded


def feature_dimension(name: str, position: int) -> str:
    """A feature's ``FEATURE_DIMENSION`` value: its name when CloudWatch takes it as one
    (printable ASCII, not blank, at most 255 characters), else ``feature-<position>``
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html)."""
    if name.strip() and len(name) <= 255 and all(" " <= c <= "~" for c in name):
        return name
    return f"feature-{position}"


# The feature profile in a model's manifest (ops.modelfiles.profile writes it; the function
# reads it to count drift, drift_check.py): the manifest's PROFILE holds PROFILE_SOURCE
# (PROFILE_FROM_DATA, or made from the model) and PROFILE_FEATURES, one object per feature with
# these keys (the rest of a feature's keys are ops' own)
PROFILE = "profile"
PROFILE_SOURCE = "source"
PROFILE_FROM_DATA = "data"
PROFILE_FEATURES = "features"
PROFILE_NAME = "name"
PROFILE_KIND = "kind"  # PROFILE_CATEGORICAL, or numeric
PROFILE_CATEGORICAL = "categorical"
PROFILE_NULL_SHARE = "null_share"
PROFILE_QUANTILES = "quantiles"  # numeric: at the profile's quantile levels
PROFILE_CATEGORIES = "categories"  # categorical: [[value, share], ...], most frequent first
PROFILE_OTHER_SHARE = "other_share"  # the share of the categories beyond those listed
PROFILE_EXACT = "exact"  # the range or categories are the training data's own bounds
# A batch slice's drift histograms (function -> ops, JSON at drift_key): {HIST_ROWS: valid rows,
# HIST_FEATURES: {feature: histogram}}; a histogram has HIST_NULLS and, numeric, HIST_BELOW,
# HIST_ABOVE the training range and HIST_BINS over it; categorical, HIST_COUNTS per category
# the profile lists (in its order) and HIST_OTHER for every other value (drift_check.py)
HIST_ROWS = "rows"
HIST_FEATURES = "features"
HIST_NULLS = "nulls"
HIST_BELOW = "below"
HIST_ABOVE = "above"
HIST_BINS = "bins"
HIST_COUNTS = "counts"
HIST_OTHER = "other"

# Error types the function raises (Lambda reports the class name as errorType; the batch state
# machine retries the transient ones and catches the rest). lambda/inference_errors.py defines
# one class per name, with ``transient`` set to match (tests/unit/test_contract.py).
TRANSIENT_ERROR_TYPES = ("ModelStoreUnreachableError", "BatchStoreUnreachableError")
PERMANENT_ERROR_TYPES = (
    "ModelIntegrityError",  # MODEL_INTEGRITY_ERROR
    "ModelVersionError",  # MODEL_VERSION_ERROR
    "ModelUnavailableError",  # MODEL_UNAVAILABLE
    "BatchSliceError",
    "InternalError",
)
MODEL_UNAVAILABLE = PERMANENT_ERROR_TYPES[2]
MODEL_VERSION_ERROR = PERMANENT_ERROR_TYPES[1]
MODEL_INTEGRITY_ERROR = PERMANENT_ERROR_TYPES[0]

# Limits
DEFAULT_MAX_ROWS = 1000  # rows per realtime request (MAX_ROWS in the function's environment)

# Batch layout, in the batch bucket, per run:
#   batch/<run id>/manifest.json        the slice list (ops writes it; the state machine's
#                                       Distributed Map reads it: the list never enters the state)
#   batch/<run id>/input/<slice>        rows (ops -> function)
#   batch/<run id>/output/<slice>       one result per row (function -> ops), in the input's
#                                       format, with the model version that predicted them and
#                                       the slice's counts as object metadata
#   batch/<run id>/failed/<slice>.json  the caught error of a slice that failed for good
#                                       (state machine -> ops)
#   batch/<run id>/drift/<slice>.json   the slice's valid rows as per-feature histograms
#                                       against the model's profile (function -> ops; counts
#                                       only: drift_check.histograms)
# Run ids have a fixed length, so the IAM patterns of each kind (which spell the run id with `?`)
# can never match another kind's key.
RUN_ID_LENGTH = 24
RUN_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}")
# A slice is Parquet (a table: the columnar path, no per-row work in the function) or JSON lines
# (rows that are not a table: lists, mixed cell types, lines that are not JSON; checked row by
# row). Its results are written in the same format.
SLICE_FORMATS = ("parquet", "jsonl")
SLICE_NAME = re.compile(r"part-\d{9}\.(?:parquet|jsonl)")
# Columns of a Parquet result slice: the input row's number, the prediction (null for an error
# row), one probability column per class (classifiers), and the error's type and text (null for
# a predicted row)
RESULT_ROW = "row"
RESULT_PREDICTION = "prediction"
RESULT_PROBABILITY_PREFIX = "p_"
RESULT_ERROR_TYPE = "error_type"
RESULT_ERROR = "error"
# A work item's fields (the manifest's items, passed to the function by the Distributed Map's
# ItemSelector): whether results carry each class's probability (off: labels only, as
# model.predict returns)
SLICE_BUCKET = "bucket"  # set by the state machine: its batch bucket
SLICE_INPUT_KEY = "input_key"
SLICE_OUTPUT_KEY = "output_key"
SLICE_FIRST_ROW = "first_row"
SLICE_ROWS = "rows"
SLICE_PROBABILITIES = "probabilities"
SLICE_FIELDS = (SLICE_INPUT_KEY, SLICE_OUTPUT_KEY, SLICE_FIRST_ROW, SLICE_ROWS, SLICE_PROBABILITIES)
SLICE_FAILURE_KEY = "failure_key"  # where the state machine records a failed slice's error
# S3 metadata of an output slice: how many rows it has and how many of them are errors (so a
# batch whose results stay in S3 is counted without reading them)
RESULT_ROWS_METADATA = "rows"
RESULT_FAILED_METADATA = "failed"
MANIFEST_NAME = "manifest.json"
RESULT_MODEL_METADATA = "model-version"  # S3 metadata of an output slice: its model version
# The batch execution's input (ops -> state machine): the manifest to read, the run, and the
# one function version every slice invokes (one model for the whole batch)
EXECUTION_MANIFEST_KEY = "manifest_key"
EXECUTION_RUN_ID = "run_id"
EXECUTION_FUNCTION_VERSION = "function_version"
# A run's ticket (ops -> function): what ops started, signed with the deployer's key; the
# function runs only work items that are exactly one of its slices (work_items.py)
RUN_TICKET_NAME = "run.json"
RUN_TICKET_PURPOSE = "reintento-batch-run/1"
WORK_ITEM_REFUSED = "WorkItemRefused"  # the answer's error type (data, not a function error)
REFUSED_WORK_ITEMS_METRIC = "RefusedWorkItems"

# The function's answers (function -> ops). A realtime answer:
#   {ANSWER_PREDICTIONS: [...], ANSWER_PROBABILITIES: [[...], ...], ANSWER_CLASSES: [...],
#    ANSWER_MODEL: {MODEL_VERSION_ID: ..., MODEL_SHA256: ..., MODEL_SKLEARN_VERSION: ...}}
# (probabilities and classes for classifiers only), or, for bad input, ANSWER_ERROR:
#   {ERROR_TYPE: INVALID_INPUT, ERROR_MESSAGE: what to do, ERROR_DETAILS: [{DETAIL_ROW,
#    DETAIL_FIELD, DETAIL_PROBLEM}, ...], ERROR_DETAILS_TRUNCATED: bool,
#    ERROR_EXPECTED_FEATURES: names (or their count, for a model fitted without names)}
ANSWER_PREDICTIONS = "predictions"
ANSWER_PROBABILITIES = "probabilities"
ANSWER_CLASSES = "classes"
ANSWER_MODEL = "model"
ANSWER_ERROR = "error"
ERROR_TYPE = "type"
ERROR_MESSAGE = "message"
ERROR_DETAILS = "details"
ERROR_DETAILS_TRUNCATED = "details_truncated"
ERROR_EXPECTED_FEATURES = "expected_features"
INVALID_INPUT = "InvalidInput"
DETAIL_ROW = "row"
DETAIL_FIELD = "field"
DETAIL_PROBLEM = "problem"
# the served model, in every answer (ANSWER_MODEL)
MODEL_VERSION_ID = "version_id"
MODEL_SHA256 = "sha256"  # its first 12 hex digits
MODEL_SKLEARN_VERSION = "sklearn_version"
MODEL_ENGINE = "engine"  # ENGINE_ONNX or ENGINE_SKLEARN: which one answered
# the describe-model answer: ANSWER_MODEL (None before any upload, with NO_MODEL saying why),
# DESCRIBE_FEATURES (each {FEATURE_NAME, FEATURE_KIND, FEATURE_NULLABLE, FEATURE_CATEGORIES}),
# ANSWER_CLASSES (None for a regressor) and DESCRIBE_MAX_ROWS
DESCRIBE_FEATURES = "features"
DESCRIBE_MAX_ROWS = "max_rows"
FEATURE_NAME = "name"
FEATURE_KIND = "kind"  # FEATURE_NUMERIC, PROFILE_CATEGORICAL or FEATURE_ANY
FEATURE_NUMERIC = "numeric"
FEATURE_ANY = "any"
FEATURE_NULLABLE = "nullable"
FEATURE_CATEGORIES = "categories"
# A batch slice's answer (function -> state machine -> ops): its SLICE_INPUT_KEY,
# SLICE_OUTPUT_KEY, SLICE_FIRST_ROW and SLICE_ROWS, its row counts, and ANSWER_MODEL
SLICE_SUCCEEDED = "succeeded"
SLICE_FAILED = "failed"
# A model file's check (check_model.py, run by ops in the function's environment -> ops):
# CHECK_REFUSED ({ERROR_TYPE, ERROR_MESSAGE}, or None), MODEL_SKLEARN_VERSION, and for a model
# that loads CHECK_ESTIMATOR, CHECK_FEATURE_NAMES, CHECK_N_FEATURES, ANSWER_CLASSES,
# DESCRIBE_FEATURES, CHECK_HINTS; with rows, CHECK_ANSWER (the realtime answer),
# CHECK_REFERENCE (ANSWER_PREDICTIONS and ANSWER_PROBABILITIES of model.predict itself) and
# CHECK_REFUSED_ROWS
CHECK_REFUSED = "refused"
CHECK_ESTIMATOR = "estimator"
CHECK_FEATURE_NAMES = "feature_names"
CHECK_N_FEATURES = "n_features"
CHECK_HINTS = "hints"
CHECK_ANSWER = "answer"
CHECK_REFERENCE = "reference"
CHECK_REFUSED_ROWS = "refused_rows"
# What a fitted model reveals of each feature (CHECK_HINTS, model_hints.py -> ops, which makes a
# profile from it when no data is given): FEATURE_NAME, HINT_SOURCE (the step it was read
# from), and HINT_CATEGORIES, or HINT_LOW and HINT_HIGH, or HINT_CENTER and HINT_SPREAD
HINT_SOURCE = "source"
HINT_CATEGORIES = "categories"
HINT_LOW = "low"
HINT_HIGH = "high"
HINT_CENTER = "center"
HINT_SPREAD = "spread"
# A JSON-lines result record: RESULT_ROW, then RESULT_PREDICTION (and ANSWER_PROBABILITIES)
# or ANSWER_ERROR: {ERROR_TYPE: INVALID_INPUT, ERROR_DETAILS: [{DETAIL_FIELD, DETAIL_PROBLEM}]}


def stack_names(prefix: str, stage: str) -> tuple[str, str]:
    """(model store stack, service stack) for a prefix and a stage."""
    return f"{prefix}-{stage}-ModelStore", f"{prefix}-{stage}-Service"


# The tag the model stack puts on its signing key, whose value names the stage: the operator's
# policy allows kms:Sign only on keys with it (a key id is generated; a tag can be matched).
STAGE_TAG = "reintento:stage"


def stage_tag(prefix: str, stage: str) -> str:
    """The ``STAGE_TAG`` value of a stage's resources."""
    return f"{prefix}-{stage}"


def batch_name(prefix: str, stage: str) -> str:
    """The batch state machine's name, and its log group's last part, for a prefix and a stage
    (given, not generated: the operator's policy names it)."""
    return f"{prefix}-{stage}-batch"


def rollout_guard_name(prefix: str, stage: str) -> str:
    """The rollout guard's state machine name for a prefix and a stage: the workflow in the
    service stack that ends a rollout whose controller stopped (``infra/rollout_guard.py``)."""
    return f"{prefix}-{stage}-rollout-guard"


# The rollout guard's execution input (ops writes it, the state machine reads it): the versions,
# and how long until a split the controller left is moved back (counted by Step Functions)
GUARD_OLD_VERSION = "old_version"
GUARD_NEW_VERSION = "new_version"
GUARD_WAIT_SECONDS = "wait_seconds"  # a Wait state's SecondsPath: a whole number
GUARD_DEADLINE = "deadline"  # the same moment as ops' clock says it (ISO 8601, UTC; shown only)
GUARD_FOUND = "found"  # its output: the alias as the guard found it at the deadline
GUARD_ROUTED = "routed"  # present when it moved every call back to the old version
# The guard's execution timeout (the stack's) and so the longest rollout ops starts: its steps'
# bakes and the guard's grace must end within it
GUARD_TIMEOUT_HOURS = 48


def signing_message(
    model_key: str,
    sha256: str,
    sklearn_version: str,
    manifest_sha256: str = "",
    *,
    uploaded_at: str = "",
    serial: str = "",
    stage: str = "",
) -> bytes:
    """The exact bytes the deployer signs for one model object (and the function verifies).
    The manifest's sha256, the upload time, the serial and the stage are lines of their own
    when the object carries them (removing or changing one changes the message, so the
    signature no longer verifies); objects signed before they existed verify as they were."""
    bound = (
        (MANIFEST_SHA256_METADATA, manifest_sha256),
        (UPLOADED_AT_METADATA, uploaded_at),
        (SERIAL_METADATA, serial),
        (STAGE_METADATA, stage),
    )
    lines = [
        SIGNATURE_PURPOSE,
        f"key={model_key}",
        f"sha256={sha256}",
        f"sklearn-version={sklearn_version}",
        *(f"{name}={value}" for name, value in bound if value),
    ]
    return ("\n".join(lines) + "\n").encode()


def signed_message_of(model_key: str, metadata: Mapping[str, str]) -> bytes:
    """The signed message of a model object, from its metadata (what the function checks)."""
    return signing_message(
        model_key,
        metadata.get(SHA256_METADATA, ""),
        metadata.get(SKLEARN_METADATA, ""),
        metadata.get(MANIFEST_SHA256_METADATA, ""),
        uploaded_at=metadata.get(UPLOADED_AT_METADATA, ""),
        serial=metadata.get(SERIAL_METADATA, ""),
        stage=metadata.get(STAGE_METADATA, ""),
    )


def batch_key(run_id: str, kind: str, index: int, slice_format: str = "parquet") -> str:
    """The S3 key of slice ``index`` of a run, ``kind`` being input or output."""
    if slice_format not in SLICE_FORMATS:
        raise ValueError(f"slice format {slice_format!r} is not one of {SLICE_FORMATS}")
    return f"{batch_prefix(run_id, kind)}part-{index:09d}.{slice_format}"


def batch_pattern(kind: str) -> str:
    """The IAM resource pattern (after the bucket ARN) for one kind of batch object."""
    if kind == "manifest":
        return f"batch/{'?' * RUN_ID_LENGTH}/{MANIFEST_NAME}"
    if kind == "ticket":
        return f"batch/{'?' * RUN_ID_LENGTH}/{RUN_TICKET_NAME}"
    return f"batch/{'?' * RUN_ID_LENGTH}/{kind}/*"


def new_run_id(now: float | None = None) -> str:
    """A fresh run id (``RUN_ID``: the time to the second, then 8 random hex digits)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def batch_prefix(run_id: str, kind: str) -> str:
    """The S3 prefix of one kind (input, output, failed) of a run's objects."""
    return f"batch/{run_id}/{kind}/"


RECORD_PURPOSE = "reintento-rollout-record/1"


def record_signing_message(key: str, body_sha256: str) -> bytes:
    """The exact bytes ops signs for one rollout record (its key and its body's sha256): a
    record copied to another key, or changed, no longer verifies."""
    return f"{RECORD_PURPOSE}\nkey={key}\nsha256={body_sha256}\n".encode()


def run_ticket_key(run_id: str) -> str:
    """The S3 key of a run's signed ticket."""
    return f"batch/{run_id}/{RUN_TICKET_NAME}"


@dataclass(frozen=True)
class RunTicket:
    """What ops signs about a run it starts (and the function verifies): the ticket's fields,
    its signed message and its JSON body, spelled here only."""

    run_id: str
    function_version: str
    rows: int
    slice_rows: int
    slice_format: str
    probabilities: bool
    signature: str = ""  # base64, over ``message``

    @property
    def message(self) -> bytes:
        """The exact bytes signed (every field but the signature)."""
        return (
            f"{RUN_TICKET_PURPOSE}\nrun={self.run_id}\nfunction-version={self.function_version}\n"
            f"rows={self.rows}\nslice-rows={self.slice_rows}\nformat={self.slice_format}\n"
            f"probabilities={'true' if self.probabilities else 'false'}\n"
        ).encode()

    def body(self) -> bytes:
        """The object stored at ``run_ticket_key``."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_body(cls, body: bytes) -> RunTicket:
        """A stored ticket read back (ValueError, KeyError or TypeError when it is not one)."""
        fields = json.loads(body)
        return cls(
            run_id=str(fields["run_id"]),
            function_version=str(fields["function_version"]),
            rows=int(fields["rows"]),
            slice_rows=int(fields["slice_rows"]),
            slice_format=str(fields["slice_format"]),
            probabilities=bool(fields["probabilities"]),
            signature=str(fields["signature"]),
        )


def manifest_key(run_id: str) -> str:
    """The S3 key of a run's slice list (a JSON array, read by the Distributed Map)."""
    return f"batch/{run_id}/{MANIFEST_NAME}"


def failure_key(run_id: str, index: int) -> str:
    """The S3 key where the state machine records slice ``index``'s caught error."""
    return f"{batch_prefix(run_id, 'failed')}part-{index:09d}.json"


def drift_key(output_key: str) -> str:
    """The S3 key of a slice's drift histograms, from its output key (same run, same slice)."""
    run_id, kind = parse_batch_key(output_key) or ("", "")
    if kind != "output":
        raise ValueError(f"{output_key!r} is not a slice's output key")
    name = output_key.rsplit("/", 1)[1].rsplit(".", 1)[0]
    return f"{batch_prefix(run_id, 'drift')}{name}.json"


def parse_batch_key(key: str) -> tuple[str, str] | None:
    """(run id, kind) of a well-formed batch key, else None (the function refuses it)."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "batch" or parts[2] not in ("input", "output"):
        return None
    if not RUN_ID.fullmatch(parts[1]) or not SLICE_NAME.fullmatch(parts[3]):
        return None
    return parts[1], parts[2]


# A row's problems that say it does not fit the model's inputs at all (another schema), as
# opposed to a value the model cannot take: the function writes them, ops reads them.
PROBLEM_MISSING = "missing"
PROBLEM_UNEXPECTED = "unexpected feature"
PROBLEM_EXPECTED = "expected "  # ... N values, got M (a row of values)
PROBLEM_ROW_MUST_BE = "row must be "  # ... an object keyed by feature name, got ...
PROBLEM_SHAPE_PREFIXES = (PROBLEM_EXPECTED, PROBLEM_ROW_MUST_BE)


def is_schema_problem(problem: str) -> bool:
    """Whether a row's ``problem`` is about which inputs it has, not about a value."""
    return problem in (PROBLEM_MISSING, PROBLEM_UNEXPECTED) or problem.startswith(
        PROBLEM_SHAPE_PREFIXES
    )


# The function's log line for each batch slice (with its request id): how `ops metrics` tells a
# batch slice's REPORT line from a realtime call's.
BATCH_SLICE_LOG_MESSAGE = "batch slice"
