"""Construct IDs and stack output keys: the contract ``ops`` and the tests read by name."""

from __future__ import annotations

from reintento_function import contract

# Construct IDs (PascalCase).
MODEL_STORE = "ModelStore"
INFERENCE_FUNCTION = "InferenceFunction"
BATCH_PIPELINE = "BatchPipeline"
MONITORING = "Monitoring"
ROLLOUT_GUARD = "RolloutGuard"

# Pinned logical ID of the stateful model bucket: changing it would replace the bucket.
MODEL_BUCKET_LOGICAL_ID = "ModelBucket"

# Output keys (``CfnOutput.override_logical_id``).
OUT_MODEL_BUCKET = "ModelBucketName"
OUT_SIGNING_KEY = "ModelSigningKeyArn"
OUT_MODEL_KEY = "ModelKey"
OUT_BATCH_BUCKET = "BatchBucketName"
OUT_FUNCTION_NAME = "FunctionName"
OUT_FUNCTION_ARN = "FunctionArn"
OUT_LIVE_ALIAS_ARN = "LiveAliasArn"  # what clients invoke (ops creates the alias on upload)
OUT_FUNCTION_LOG_GROUP = "FunctionLogGroupName"
OUT_STATE_MACHINE_ARN = "StateMachineArn"
OUT_STATE_MACHINE_LOG_GROUP = "StateMachineLogGroupName"
OUT_DASHBOARD = "DashboardName"
OUT_ALARM_TOPIC = "AlarmTopicArn"

# Keys inside the batch bucket the function may read from / write to: the run id is spelled
# with `?` (fixed length), so the two patterns can never match the same key.
BATCH_INPUT_PATTERN: str = contract.batch_pattern("input")
BATCH_OUTPUT_PATTERN: str = contract.batch_pattern("output")
BATCH_TICKET_PATTERN: str = contract.batch_pattern("ticket")  # a run's signed ticket (read)
BATCH_DRIFT_PATTERN: str = contract.batch_pattern("drift")  # a slice's histograms (write)
# ... and the state machine: it reads the slice list and records a failed slice's error
BATCH_MANIFEST_PATTERN: str = contract.batch_pattern("manifest")
BATCH_FAILED_PATTERN: str = contract.batch_pattern("failed")
# where the Distributed Map's ResultWriter writes its map-run files (AWS's own format)
MAP_RUN_PREFIX = "map-runs"

# Errors the batch state machine retries (transient: the platform's, AWS's recommended Lambda
# retry set, and the function's own transient types) and the ones it never retries.
PLATFORM_TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
    "Runtime.ExitError",
)
TRANSIENT_ERRORS: tuple[str, ...] = (*PLATFORM_TRANSIENT_ERRORS, *contract.TRANSIENT_ERROR_TYPES)
# A function that is not Active (Inactive after idling, Pending while it restores) refuses
# invokes until it is; retried for longer, as ops waits for it (functions-states.html).
NOT_ACTIVE_ERRORS: tuple[str, ...] = (
    "Lambda.ResourceNotReadyException",
    "Lambda.ResourceConflictException",
)
PERMANENT_ERRORS: tuple[str, ...] = tuple(contract.PERMANENT_ERROR_TYPES)

# A slice runs in an Express child workflow, stopped after 5 minutes whatever it is doing
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): its retries, and
# the Catch that records a failed slice, must fit. (interval s, max attempts, backoff rate)
TRANSIENT_RETRY = (1, 3, 2.0)  # a timeout's retries each take a whole invocation
NOT_ACTIVE_RETRY = (5, 4, 2.0)  # a function not Active answers at once: waits of 5+10+20+40 s
EXPRESS_LIMIT_SECONDS = 300
CATCH_SECONDS = 10  # the Catch's own write of the failure record, with room
# after a timeout, each retry is a cold start: Lambda's Init phase (up to 10 s, outside the
# function's timeout: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html)
INIT_SECONDS = 10


def _waits(retry: tuple[int, int, float]) -> float:
    interval, attempts, backoff = retry
    return sum(interval * backoff**i for i in range(attempts))


def slice_worst_case_seconds(timeout_seconds: int) -> float:
    """The longest a slice's task can take: the first try and every transient retry at the
    function's timeout (each after an Init), and every wait of both retriers."""
    tries = 1 + TRANSIENT_RETRY[1]
    each = timeout_seconds + INIT_SECONDS
    return tries * each + _waits(TRANSIENT_RETRY) + _waits(NOT_ACTIVE_RETRY)


# the largest function timeout whose slices' retries still fit (42 s)
MAX_BATCH_TIMEOUT_SECONDS = max(
    t for t in range(1, 901) if slice_worst_case_seconds(t) + CATCH_SECONDS <= EXPRESS_LIMIT_SECONDS
)

METRICS_NAMESPACE = "Reintento"
# counted by the batch state machine (not the function) for each slice that failed after its
# retries: a crash or a refusal leaves no count of the function's own
FAILED_SLICES_METRIC = "BatchSlicesFailed"
FAILED_SLICES_DIMENSION = "StateMachineName"  # the stage's state machine (one per stage)
SERVICE_NAME = "reintento-predict"
