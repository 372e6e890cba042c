"""Input drift: how the rows a function version answered compare with its model's training
profile, feature by feature.

The function counts, for every realtime request and batch slice it answers, per feature the
values out of the training range, the categories the training data never had and the nulls
(``reintento_function.drift_check``), and publishes the counts as metrics per function version
(``contract.PROFILED_ROWS_METRIC`` and the per-feature ones). This module reads them back for a
time window, with the reference they were counted against: the profile of the model's signed
manifest. A feature *drifted* when its share of values out of profile, or of nulls beyond the
training share, is over the threshold (10% by default, the drift alarm's too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from ops.display import Card, Shown
from ops.modelfiles.profile import FeatureProfile, Profile
from ops.service.signing import signed_manifest
from ops.targets import Target
from reintento_function import contract

DRIFT_THRESHOLD = 0.10  # a feature's share out of profile (or of excess nulls) called drift
QUERIES_PER_CALL = 500  # GetMetricData's limit of queries per request
METRICS = (contract.OUT_OF_RANGE_METRIC, contract.UNSEEN_METRIC, contract.NULL_METRIC)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's counts over a window, and its training reference."""

    training: FeatureProfile
    rows: int
    out_of_range: int = 0
    unseen: int = 0
    nulls: int = 0

    @property
    def name(self) -> str:
        return self.training.name

    @property
    def share(self) -> float:
        """Share of the rows whose value was out of the training range or unseen."""
        return (self.out_of_range + self.unseen) / self.rows if self.rows else 0.0

    @property
    def null_share(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def null_excess(self) -> float:
        return max(0.0, self.null_share - self.training.null_share)

    @property
    def drift(self) -> float:
        return max(self.share, self.null_excess)

    def drifted(self, threshold: float) -> bool:
        return self.rows > 0 and self.drift > threshold

    def words(self) -> str:
        """What was seen, against the training reference."""
        parts = []
        if self.out_of_range:
            parts.append(f"{self.share:.1%} outside the training range")
        if self.unseen:
            parts.append(f"{self.share:.1%} categories unseen in training")
        if self.nulls:
            parts.append(f"{self.null_share:.1%} null (training {self.training.null_share:.1%})")
        seen = "; ".join(parts) or "all within the training profile"
        return f"{seen}; trained on {self.training.describe()}"


@dataclass(frozen=True)
class DriftReport(Shown):
    """Per feature, how the answered rows of a window compare with the training profile."""

    scope: str  # "the last 60 min"
    function_version: str
    model_version: str
    rows: int  # rows compared with the profile
    features: tuple[FeatureDrift, ...]
    threshold: float = DRIFT_THRESHOLD
    synthetic: bool = False  # the profile was made from the model, not from data
    note: str = ""

    @property
    def drifted(self) -> tuple[str, ...]:
        """The drifted features, the most drifted first."""
        found = sorted(
            (f for f in self.features if f.drifted(self.threshold)), key=lambda f: -f.drift
        )
        return tuple(f.name for f in found)

    def card(self) -> Card:
        drifted = self.drifted
        if not self.rows:
            headline = f"no rows compared with the training profile in {self.scope}"
        elif drifted:
            headline = (
                f"{len(drifted)} of {len(self.features)} features drifted in {self.scope}: "
                + ", ".join(drifted[:5])
            )
        else:
            headline = f"no feature drifted in {self.scope} ({self.rows:,} rows compared)"
        return Card(
            "Input drift",
            headline,
            ok=None if not self.rows else not drifted,
            key=(
                ("rows compared", f"{self.rows:,}"),
                ("function version", self.function_version),
                ("model version", self.model_version),
                ("drift", f"over {self.threshold:.0%} of a feature's values out of its profile"),
            ),
            details=tuple(
                (f"{'DRIFTED ' if f.drifted(self.threshold) else ''}{f.name}", f.words())
                for f in sorted(self.features, key=lambda f: -f.drift)
            ),
            notes=tuple(
                n
                for n in (
                    self.note,
                    "the training profile was made from what the model reveals, not from its "
                    "data: ranges are estimates (profile it from data with `python -m ops "
                    "profile-model PATH --rows FILE`)"
                    if self.synthetic
                    else "",
                )
                if n
            ),
        )

    def table(self) -> pd.DataFrame:
        """One row per feature: counts, shares, the training reference, the verdict."""
        return pd.DataFrame(
            [
                {
                    "feature": f.name,
                    "kind": f.training.kind,
                    "rows": f.rows,
                    "out_of_range": f.out_of_range,
                    "unseen": f.unseen,
                    "nulls": f.nulls,
                    "share_out_of_profile": f.share,
                    "null_excess": f.null_excess,
                    "training": f.training.describe(),
                    "drifted": f.drifted(self.threshold),
                }
                for f in self.features
            ]
        )

    def record(self) -> dict[str, Any]:
        # not the row count: it grows with whatever else was sent in the window
        return {"drifted": list(self.drifted), "features": [f.name for f in self.features]}


def _live_version(target: Target) -> str:
    alias = target.client("lambda").get_alias(
        FunctionName=target.outputs.function_name, Name=contract.LIVE_ALIAS
    )
    return str(alias["FunctionVersion"])


def _query(n: int, namespace: str, name: str, dims: dict[str, str]) -> dict[str, Any]:
    return {
        "Id": f"q{n}",
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": 60,
            "Stat": "Sum",
        },
    }


def _sums(target: Target, queries: list[dict[str, Any]], since: datetime) -> dict[str, float]:
    cw, found = target.client("cloudwatch"), dict[str, float]()
    end = datetime.now(UTC) + timedelta(minutes=1)
    for start in range(0, len(queries), QUERIES_PER_CALL):
        chunk = queries[start : start + QUERIES_PER_CALL]
        kwargs: dict[str, Any] = {"MetricDataQueries": chunk, "StartTime": since, "EndTime": end}
        while True:
            answer = cw.get_metric_data(**kwargs)
            for result in answer["MetricDataResults"]:
                found[result["Id"]] = found.get(result["Id"], 0.0) + sum(result.get("Values", []))
            if not answer.get("NextToken"):
                break
            kwargs["NextToken"] = answer["NextToken"]
    return found


def read_window(target: Target, since_seconds: float, version: str | None) -> DriftReport:
    """The drift of ``version`` (default: the live alias's) over the last ``since_seconds``."""
    function_version = version or _live_version(target)
    name = target.outputs.function_name
    config = target.client("lambda").get_function_configuration(
        FunctionName=name, Qualifier=function_version
    )
    env = (config.get("Environment") or {}).get("Variables") or {}
    model_version = str(env.get(contract.ENV_MODEL_VERSION, ""))
    scope = f"the last {since_seconds / 60:.0f} min"
    manifest = signed_manifest(target, model_version) if model_version else None
    profile: Profile | None = manifest.input_profile if manifest else None
    if profile is None:
        return DriftReport(
            scope, function_version, model_version, 0, (),
            note="this model has no signed feature profile to compare with: upload it again "
            "with `python -m ops upload-model PATH` (profile it from data first with "
            "`python -m ops profile-model PATH --rows FILE`)",
        )  # fmt: skip
    function_dim, version_dim = contract.VERSION_DIMENSIONS
    dims = {
        function_dim: name,
        version_dim: function_version,
        "service": str(env.get("POWERTOOLS_SERVICE_NAME", "")),
    }
    namespace = str(env.get("POWERTOOLS_METRICS_NAMESPACE", ""))
    features = profile.features[: contract.MAX_PROFILED_FEATURES]
    queries = [_query(0, namespace, contract.PROFILED_ROWS_METRIC, dims)]
    for i, feature in enumerate(features):
        for j, metric in enumerate(METRICS):
            per_feature = {  # in the order the function writes them
                function_dim: name,
                version_dim: function_version,
                contract.FEATURE_DIMENSION: feature.name[:250],
                "service": dims["service"],
            }
            queries.append(_query(1 + i * len(METRICS) + j, namespace, metric, per_feature))
    since = (datetime.now(UTC) - timedelta(seconds=since_seconds)).replace(second=0, microsecond=0)
    sums = _sums(target, queries, since)
    rows = int(sums.get("q0", 0))

    def count(i: int, j: int) -> int:
        return int(sums.get(f"q{1 + i * len(METRICS) + j}", 0))

    found = tuple(
        FeatureDrift(feature, rows, count(i, 0), count(i, 1), count(i, 2))
        for i, feature in enumerate(features)
    )
    return DriftReport(
        scope, function_version, model_version, rows, found, synthetic=profile.synthetic
    )
