"""What the two stacks bill every month whether they are called or not, as deployed with the
default context (tests/infra/test_cost_items.py keeps these equal to the synthesized templates).

- one customer managed KMS key (the deployer's signing key): $1 a month, and its requests
  (https://aws.amazon.com/kms/pricing/);
- CloudWatch alarms, billed per metric each one evaluates (a metric-math alarm counts each metric
  in its expression: https://aws.amazon.com/cloudwatch/pricing/);
- one dashboard (the account's first three are free), and the custom metrics the function
  publishes through embedded metric format (billed per metric, prorated by the hour);
- three log groups (the function's, the batch state machine's, the rollout guard's) kept
  ``LOG_RETENTION_DAYS``;
- the function's container image in the CDK's assets repository (ECR storage);
- the model bucket's server access logs, in their own bucket.
"""

from __future__ import annotations

from reintento_function import contract

SIGNING_KEYS = 1
# errors, throttles, p99 duration, failed batch slices: one each; failed batches: 3 in one
# expression; invalid requests: 2; input drift: 2
ALARM_METRICS = 11
DASHBOARDS = 1
LOG_GROUPS = 3
LOG_RETENTION_DAYS = 30  # infra/settings.py's default
ACCESS_LOG_DAYS = 365  # the model bucket's server access logs (infra/model_store.py)
# The function's EMF metrics that ordinary traffic publishes (realtime: RowsPredicted, and on a
# cold start ColdStart and ModelLoadTime; batch: BatchRowsPredicted and BatchRowsFailed; both,
# for a model with a profile: ProfiledRows per version, ProfiledRows and OutOfProfileRows per
# function). Those published only on refusals, errors or drift (a feature's values out of
# profile, or more nulls than in training) bill only in the hours they occur: not counted.
REALTIME_METRICS = ("RowsPredicted", "ColdStart", "ModelLoadTime")
BATCH_METRICS = ("BatchRowsPredicted", "BatchRowsFailed")
# by realtime calls and batch slices alike
DRIFT_METRICS = (
    contract.PROFILED_ROWS_METRIC,
    f"{contract.PROFILED_ROWS_METRIC} per function",
    contract.OUT_OF_PROFILE_METRIC,
)
