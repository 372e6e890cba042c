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

import json
import math
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from ops.display import Card, Shown
from ops.modelfiles.profile import QUANTILE_LEVELS, FeatureProfile, Profile
from ops.service.signing import signed_manifest
from ops.targets import Target
from reintento_function import contract
from reintento_function.drift_check import bin_index, profile_edges

DRIFT_THRESHOLD = 0.10  # a feature's share out of profile (or of excess nulls) called drift
# population stability index: under 0.1 no shift, 0.1 to 0.25 moderate, 0.25 and above major
# (the usual reading); a share of 0 counts as PSI_FLOOR, so a bin training never had still adds
PSI_MAJOR = 0.25
PSI_FLOOR = 1e-4
NO_PROFILE = (
    "this model has no signed feature profile to compare with: upload it again with "
    "`python -m ops upload-model PATH` (profile it from data first with "
    "`python -m ops profile-model PATH --rows FILE`)"
)
IO_THREADS = 16  # a batch's histogram objects are read in parallel
QUERIES_PER_CALL = 500  # GetMetricData's limit of queries per request
OWN_CALLS_WAIT_SECONDS = 30.0  # at most this long for the counts of the calls made here
METRICS = (contract.OUT_OF_RANGE_METRIC, contract.UNSEEN_METRIC, contract.NULL_METRIC)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's counts over a window, and its training reference."""

    training: FeatureProfile
    rows: int
    out_of_range: int = 0
    unseen: int = 0
    nulls: int = 0
    # a batch's: the population stability index against the profile's bins, and per bin
    # (label, training share, batch share) of the present values
    psi: float | None = None
    bins: tuple[tuple[str, float, float], ...] = ()

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
        shifted = self.psi is not None and self.psi >= PSI_MAJOR
        return self.rows > 0 and (self.drift > threshold or shifted)

    def words(self) -> str:
        """What was seen, against the training reference."""
        parts = []
        if self.out_of_range:
            parts.append(f"{self.share:.1%} outside the training range")
        if self.unseen:
            parts.append(f"{self.share:.1%} categories unseen in training")
        if self.nulls:
            parts.append(f"{self.null_share:.1%} null (training {self.training.null_share:.1%})")
        if self.psi is not None:
            how = "major shift" if self.psi >= PSI_MAJOR else "moderate" if self.psi >= 0.1 else ""
            parts.insert(0, f"PSI {self.psi:.3f}" + (f" ({how})" if how else ""))
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
                    "psi": f.psi,
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


def _query(n: int, namespace: str, name: str, dims: dict[str, str], period: int) -> dict[str, Any]:
    return {
        "Id": f"q{n}",
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": period,
            "Stat": "Sum",
        },
    }


def window(seconds: float, now: datetime) -> tuple[datetime, datetime, int]:
    """(start, end, period) of one GetMetricData period that holds the last ``seconds`` and
    ``now``: whole minutes, ``end`` the next minute after ``now``, so every query answers one
    complete datapoint (a partial period at either end is not reliably answered)."""
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    period = max(60, math.ceil((seconds + 60) / 60) * 60)
    return end - timedelta(seconds=period), end, period


def _sums(
    target: Target, queries: list[dict[str, Any]], span: tuple[datetime, datetime]
) -> dict[str, float]:
    """Each query's sum over ``span`` (counts published in the last minute or two may not be
    in yet: CloudWatch takes them in from the function's log a little later)."""
    cw, found = target.client("cloudwatch"), dict[str, float]()
    for start in range(0, len(queries), QUERIES_PER_CALL):
        chunk = queries[start : start + QUERIES_PER_CALL]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": chunk,
            "StartTime": span[0],
            "EndTime": span[1],
        }
        while True:
            answer = cw.get_metric_data(**kwargs)
            for result in answer["MetricDataResults"]:
                found[result["Id"]] = found.get(result["Id"], 0.0) + sum(result.get("Values", []))
            if not answer.get("NextToken"):
                break
            kwargs["NextToken"] = answer["NextToken"]
    return found


def _own_calls_counted(target: Target) -> str:
    """Wait until the counts of the calls made here (and of the batches run from here) have
    reached CloudWatch, at most ``OWN_CALLS_WAIT_SECONDS``; a note when some may still be out.
    Lambda sends its metrics in 1-minute intervals
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html): read at once, the
    last calls would be missing from the counts."""
    delay = target.metrics_delay_seconds()
    wait = target.last_call() + delay - time.time() if target.last_call() else 0.0
    if wait <= 0:
        return ""
    time.sleep(min(wait, OWN_CALLS_WAIT_SECONDS))
    if wait <= OWN_CALLS_WAIT_SECONDS:
        return ""
    return (
        f"the calls of the last {delay:.0f} s may not be counted yet: CloudWatch has a "
        "function's counts a minute or more after its calls (ask again in a few minutes)"
    )


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
        return DriftReport(scope, function_version, model_version, 0, (), note=NO_PROFILE)
    function_dim, version_dim = contract.VERSION_DIMENSIONS
    dims = {
        function_dim: name,
        version_dim: function_version,
        "service": str(env.get("POWERTOOLS_SERVICE_NAME", "")),
    }
    namespace = str(env.get("POWERTOOLS_METRICS_NAMESPACE", ""))
    features = profile.features[: contract.MAX_PROFILED_FEATURES]
    late = _own_calls_counted(target)
    start, end, period = window(since_seconds, datetime.now(UTC))
    queries = [_query(0, namespace, contract.PROFILED_ROWS_METRIC, dims, period)]
    for i, feature in enumerate(features):
        for j, metric in enumerate(METRICS):
            per_feature = {  # in the order the function writes them
                function_dim: name,
                version_dim: function_version,
                contract.FEATURE_DIMENSION: contract.feature_dimension(feature.name, i),
                "service": dims["service"],
            }
            n = 1 + i * len(METRICS) + j
            queries.append(_query(n, namespace, metric, per_feature, period))
    sums = _sums(target, queries, (start, end))
    rows = int(sums.get("q0", 0))

    def count(i: int, j: int) -> int:
        return int(sums.get(f"q{1 + i * len(METRICS) + j}", 0))

    found = tuple(
        FeatureDrift(feature, rows, count(i, 0), count(i, 1), count(i, 2))
        for i, feature in enumerate(features)
    )
    return DriftReport(
        scope, function_version, model_version, rows, found, synthetic=profile.synthetic, note=late
    )


# --------------------------------------------------------------------------- a batch


def expected_shares(feature: FeatureProfile) -> tuple[tuple[str, float], ...]:
    """The training share of each bin of ``feature`` among its present values: numeric, the
    bins between its quantiles (``drift_check.numeric_bins``; a bin from e(k) holds the levels
    from the first quantile equal to e(k) to the first equal to e(k+1)); categorical, each
    listed category and then every other value."""
    if feature.categories is not None:
        present = 1.0 - feature.null_share or 1.0
        shares = [(str(v), s / present) for v, s in feature.categories]
        return (*shares, ("other", feature.other_share / present))
    quantiles = feature.quantiles or ()
    edges = profile_edges(quantiles)
    if len(edges) < 2:
        return ((f"{edges[0]:.4g}" if edges else "any", 1.0),)
    if feature.value_shares:  # few distinct values: each one's share is known exactly
        summed = [0.0] * (len(edges) - 1)
        values = [value for value, _ in feature.value_shares]
        for at, (_, share) in zip(bin_index(edges, values), feature.value_shares, strict=True):
            summed[int(at)] += share
        return tuple(
            (f"{edges[k]:.4g} to {edges[k + 1]:.4g}", summed[k]) for k in range(len(edges) - 1)
        )
    first = {
        e: min(lvl for lvl, q in zip(QUANTILE_LEVELS, quantiles, strict=False) if q == e)
        for e in edges
    }
    found = []
    for k in range(len(edges) - 1):
        upper = 1.0 if k == len(edges) - 2 else first[edges[k + 1]]
        found.append((f"{edges[k]:.4g} to {edges[k + 1]:.4g}", upper - first[edges[k]]))
    return tuple(found)


def psi(expected: list[float], actual: list[float]) -> float:
    """The population stability index of ``actual`` shares against ``expected`` ones."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, PSI_FLOOR), max(a, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def _added(into: dict[str, Any], histogram: Mapping[str, Any]) -> None:
    for name, value in histogram.items():
        if isinstance(value, list):
            have = into.setdefault(name, [0] * len(value))
            if len(have) == len(value):
                into[name] = [x + int(y) for x, y in zip(have, value, strict=True)]
        elif isinstance(value, int | float):
            into[name] = into.get(name, 0) + int(value)


def batch_feature(feature: FeatureProfile, histogram: Mapping[str, Any], rows: int) -> FeatureDrift:
    """One feature of a batch, from its slices' histograms added up."""
    nulls = int(histogram.get(contract.HIST_NULLS, 0))
    present = max(rows - nulls, 0)
    labels = expected_shares(feature)
    if feature.categories is not None:
        other = int(histogram.get(contract.HIST_OTHER, 0))
        counts = [*histogram.get(contract.HIST_COUNTS, []), other]
        # "other" is unseen only when the profile lists every training category, exactly
        complete = feature.exact and not feature.other_share
        out_of_range, unseen = 0, other if complete else 0
        outside: list[float] = []
    else:
        below = int(histogram.get(contract.HIST_BELOW, 0))
        above = int(histogram.get(contract.HIST_ABOVE, 0))
        counts = list(histogram.get(contract.HIST_BINS, []))
        # outside a range that is the training data's own bounds (not a guessed one)
        out_of_range, unseen = (below + above) if feature.exact else 0, 0
        outside = [below / present, above / present] if present else [0.0, 0.0]
    if len(counts) != len(labels) or not present:
        return FeatureDrift(feature, rows, out_of_range, unseen, nulls)
    actual = [c / present for c in counts]
    expected = [share for _, share in labels]
    index = psi([*expected, *([0.0] * len(outside))], [*actual, *outside])
    bins = tuple((label, e, a) for (label, e), a in zip(labels, actual, strict=True))
    if outside and feature.low is not None and feature.high is not None:
        below_share, above_share = outside
        bins = (
            (f"below {feature.low:.4g}", 0.0, below_share),
            *bins,
            (f"above {feature.high:.4g}", 0.0, above_share),
        )
    return FeatureDrift(feature, rows, out_of_range, unseen, nulls, psi=index, bins=bins)


def _model_of(target: Target, bucket: str, run_id: str) -> str:
    s3 = target.client("s3")
    listed = s3.list_objects_v2(
        Bucket=bucket, Prefix=contract.batch_prefix(run_id, "output"), MaxKeys=1
    )
    for item in listed.get("Contents", []):
        metadata = s3.head_object(Bucket=bucket, Key=item["Key"]).get("Metadata") or {}
        return str(metadata.get(contract.RESULT_MODEL_METADATA, ""))
    return ""


def _slices(target: Target, bucket: str, run_id: str) -> list[Mapping[str, Any]]:
    s3 = target.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=contract.batch_prefix(run_id, "drift")
    )
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(key: str) -> Mapping[str, Any]:
        try:
            document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ValueError:
            return {}
        return document if isinstance(document, Mapping) else {}

    with ThreadPoolExecutor(IO_THREADS) as pool:
        return list(pool.map(read, keys))


def read_batch(target: Target, run_id: str) -> DriftReport:
    """A batch run's drift: its slices' histograms (``batch/<run>/drift/``, written by the
    function beside the results) added up and compared with the profile of the model that
    predicted them."""
    bucket = target.outputs.batch_bucket
    model_version = _model_of(target, bucket, run_id)
    manifest = signed_manifest(target, model_version) if model_version else None
    profile = manifest.input_profile if manifest else None
    scope = f"batch {run_id}"
    if profile is None:
        return DriftReport(scope, "", model_version, 0, (), note=NO_PROFILE)
    rows, features = 0, dict[str, dict[str, Any]]()
    for document in _slices(target, bucket, run_id):
        rows += int(document.get(contract.HIST_ROWS, 0))
        for name, histogram in (document.get(contract.HIST_FEATURES) or {}).items():
            if isinstance(histogram, Mapping):
                _added(features.setdefault(str(name), {}), histogram)
    found = tuple(
        batch_feature(feature, features.get(feature.name, {}), rows)
        for feature in profile.features[: contract.MAX_PROFILED_FEATURES]
    )
    return DriftReport(scope, "", model_version, rows, found, synthetic=profile.synthetic)
