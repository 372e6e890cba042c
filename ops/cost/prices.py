"""AWS unit prices used by estimate_cost, in one place with their date and regions.

us-east-1 on-demand list prices, read on 2025-11-01 from the public pricing pages (the KMS and
custom-metric prices were added on 2026-12-05 from the same pages' long-standing figures, not
re-read online). Check them before relying on an estimate: prices change and differ by region.
``PRICED_REGIONS`` are the regions whose list prices for every item here are us-east-1's; an
estimate for another region is refused rather than priced wrong.
"""

from __future__ import annotations

PRICES_DATE = "2025-11-01"
PRICES_REGION = "us-east-1"
PRICED_REGIONS = ("us-east-1", "us-east-2", "us-west-2")  # same list prices for every item

LAMBDA_REQUEST = 0.20 / 1_000_000  # per request
LAMBDA_GB_SECOND_X86 = 0.0000166667  # per GB-second (x86_64)
LAMBDA_GB_SECOND_ARM = 0.0000133334  # per GB-second (arm64)
SFN_STATE_TRANSITION = 0.025 / 1_000  # Standard workflows, per transition
SFN_EXPRESS_REQUEST = 1.00 / 1_000_000  # Express workflows (a batch's slices), per request
SFN_EXPRESS_GB_SECOND = 0.00001667  # Express duration, per GB-second (first 1,000 GB-hours)
SFN_EXPRESS_MEMORY_GB = 64 / 1024  # Express memory is billed in 64 MB steps; a slice uses one
S3_STANDARD_GB_MONTH = 0.023  # storage, per GB-month
S3_PUT_REQUEST = 0.005 / 1_000  # PUT/COPY/POST/LIST, per request
S3_GET_REQUEST = 0.0004 / 1_000  # GET and others, per request
CW_LOGS_INGEST_GB = 0.50  # per GB ingested
CW_LOGS_STORAGE_GB_MONTH = 0.03  # per GB-month archived
CW_ALARM_STANDARD = 0.10  # per alarm-month (standard resolution)
CW_DASHBOARD = 3.00  # per dashboard-month beyond the free 3
ECR_STORAGE_GB_MONTH = 0.10  # per GB-month
CW_CUSTOM_METRIC_MONTH = 0.30  # per metric-month (first 10,000), prorated by the hour
KMS_KEY_MONTH = 1.00  # per customer managed key-month
KMS_REQUEST = 0.15 / 10_000  # per Sign or Verify with an ECC (asymmetric, not RSA 2048) key
HOURS_PER_MONTH = 730

# SageMaker Batch Transform, for comparison only (nothing here deploys SageMaker): ml.m5.large,
# the smallest instance AWS recommends for batch transform (2 vCPU, 8 GiB;
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformResources.html),
# on-demand, us-east-1. Batch transform bills the instance from the job's TransformStartTime to
# its TransformEndTime (API_TransformJob.html), per second. Not re-read from AWS's pricing page
# since PRICES_DATE: check it before relying on the comparison.
SAGEMAKER_ML_M5_LARGE_HOUR = 0.115  # per instance-hour (real-time inference and batch transform)
