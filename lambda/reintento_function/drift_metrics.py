"""The drift of one realtime request or batch slice: counted when its valid rows are seen,
published once its answer is written.

Publishing after the answer (for a slice: after its results and histograms are in S3) means a
slice that fails and is retried publishes its counts once, with the try that succeeded. Counts
only, as CloudWatch embedded metric format documents (contract: ``PROFILED_ROWS_METRIC`` and the
per-feature metrics per function version; ``OUT_OF_PROFILE_METRIC`` per function, for the drift
alarm). Counting never fails a prediction: an unexpected error is kept and logged by the
handler, and nothing is published for that call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from reintento_function.contract import (
    ALARM_DIMENSIONS,
    FEATURE_DIMENSION,
    NULL_METRIC,
    OUT_OF_PROFILE_METRIC,
    OUT_OF_RANGE_METRIC,
    PROFILED_ROWS_METRIC,
    UNSEEN_METRIC,
    VERSION_DIMENSIONS,
    feature_dimension,
)
from reintento_function.drift_check import (
    FeatureCount,
    InputProfile,
    count_columns,
    counts_of,
    histograms,
    worst_rows,
)


class DriftTally:
    """What one call saw of the profile; ``histograms`` too for a batch slice."""

    def __init__(self, profile: InputProfile, *, with_histograms: bool = False) -> None:
        self.profile, self.with_histograms = profile, with_histograms
        self.rows = 0
        self.counts: tuple[FeatureCount, ...] = ()
        self.histograms: dict[str, Any] | None = None
        self.error: Exception | None = None

    def seen(self, columns: Mapping[str, Any], rows: int) -> None:
        """Count the valid rows of the call (``inference_core.Seen``)."""
        try:
            self.rows = rows
            if self.with_histograms:
                self.histograms = histograms(self.profile, columns, rows)
                self.counts = counts_of(self.profile, self.histograms)
            else:
                self.counts = count_columns(self.profile, columns, rows)
        except Exception as err:  # a count must never cost an answer
            self.error, self.rows, self.histograms = err, 0, None

    def publish(self) -> None:
        """The counts, as metrics (nothing when no row was compared)."""
        if not self.rows:
            return
        function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "")
        per_version = dict(zip(VERSION_DIMENSIONS, (function_name, version), strict=True))
        _emit(per_version, {PROFILED_ROWS_METRIC: self.rows})
        _emit(
            dict(zip(ALARM_DIMENSIONS, (function_name,), strict=True)),
            {PROFILED_ROWS_METRIC: self.rows, OUT_OF_PROFILE_METRIC: worst_rows(self.counts)},
            keep_zero=True,
        )
        positions = {f.name: f.position for f in self.profile.features}
        for found in (c for c in self.counts if c.notable):
            feature = feature_dimension(found.name, positions.get(found.name, 0))
            _emit(
                {**per_version, FEATURE_DIMENSION: feature},
                {
                    OUT_OF_RANGE_METRIC: found.out_of_range,
                    UNSEEN_METRIC: found.unseen,
                    NULL_METRIC: found.nulls if found.null_excess > 0 else 0,
                },
            )


def _emit(dimensions: dict[str, str], values: dict[str, int], keep_zero: bool = False) -> None:
    """One embedded-metric-format document: ``values`` (counts) under ``dimensions`` (and
    Powertools' ``service``); a zero is left out unless ``keep_zero``."""
    document = EphemeralMetrics()
    for dimension, text in dimensions.items():
        document.add_dimension(name=dimension, value=text)
    for metric, count in values.items():
        if count or keep_zero:
            document.add_metric(name=metric, unit=MetricUnit.Count, value=count)
    document.flush_metrics()
