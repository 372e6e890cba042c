"""Construct IDs and stack output keys: the contract ``ops`` and the tests read by name."""

from __future__ import annotations

# Construct IDs (PascalCase).
MODEL_STORE = "ModelStore"
INFERENCE_FUNCTION = "InferenceFunction"
BATCH_PIPELINE = "BatchPipeline"
MONITORING = "Monitoring"

# Pinned logical ID of the stateful model bucket: changing it would replace the bucket.
MODEL_BUCKET_LOGICAL_ID = "ModelBucket"

# Output keys (``CfnOutput.override_logical_id``).
OUT_MODEL_BUCKET = "ModelBucketName"
OUT_MODEL_KEY = "ModelKey"
OUT_BATCH_BUCKET = "BatchBucketName"
OUT_FUNCTION_NAME = "FunctionName"
OUT_FUNCTION_ARN = "FunctionArn"
OUT_FUNCTION_LOG_GROUP = "FunctionLogGroupName"
OUT_STATE_MACHINE_ARN = "StateMachineArn"
OUT_STATE_MACHINE_LOG_GROUP = "StateMachineLogGroupName"
OUT_DASHBOARD = "DashboardName"
OUT_ALARM_TOPIC = "AlarmTopicArn"

# Prefixes inside the batch bucket the function may read from / write to.
BATCH_INPUT_PATTERN = "batch/*/input/*"
BATCH_OUTPUT_PATTERN = "batch/*/output/*"

# Errors the batch state machine retries (transient) and the ones it never retries.
TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
    "Runtime.ExitError",
    "ModelStoreUnreachableError",
)
PERMANENT_ERRORS = (
    "ModelIntegrityError",
    "ModelVersionError",
    "ModelUnavailableError",
    "BatchSliceError",
)

METRICS_NAMESPACE = "Reintento"
SERVICE_NAME = "reintento-predict"
