"""Plots for the test notebook: matplotlib figures, shown as a PNG and as HTML (an inline image
with its caption, so the run report and JupyterLab show the same thing)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ops.batch import BatchResult
from ops.display import RECORD_MIME
from ops.errors import ConfigurationError
from ops.observe import Metrics
from ops.service.drift import DriftReport
from ops.showcase.checks import Latency
from reintento_function.contract import RESULT_PREDICTION, RESULT_PROBABILITY_PREFIX

MAX_CLASSES_SHOWN = 10


@dataclass(frozen=True)
class Plot:
    """A figure with its caption; ``figure`` is the matplotlib figure itself."""

    name: str
    caption: str
    figure: Figure = field(repr=False, compare=False)

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        return buffer.getvalue()

    def __str__(self) -> str:
        return f"[plot] {self.caption}"

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        png = base64.b64encode(self.png()).decode()
        caption = html.escape(self.caption)
        return {
            "text/plain": str(self),
            "image/png": png,
            "text/html": f'<figure style="margin:4px 0"><img alt="{caption}" '
            f'src="data:image/png;base64,{png}"/><figcaption style="color:#57606a">'
            f"{caption}</figcaption></figure>",
            RECORD_MIME: {"type": "Plot", "name": self.name, "axes": len(self.figure.axes)},
        }


def plot_latency(latency: Latency, figures: Metrics) -> Plot:
    """Left: server-side REPORT durations, cold vs warm. Right: client round trips."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    cold = [(r.init_ms or 0) + r.duration_ms for r in figures.reports if r.cold]
    warm = [r.duration_ms for r in figures.reports if not r.cold]
    groups = [(v, label) for v, label in ((warm, "warm"), (cold, "cold (init + duration)")) if v]
    if groups:  # a log scale needs positive values; no REPORT lines yet leaves the panel empty
        left.boxplot([v for v, _ in groups], tick_labels=[label for _, label in groups])
        left.set_yscale("log")
    left.set_ylabel("ms (log)")
    left.set_title(f"REPORT lines: {len(warm)} warm, {len(cold)} cold")
    right.hist(latency.samples_ms, bins=20, color="tab:blue")
    right.set_xlabel("round trip (ms)")
    right.set_title(
        f"{latency.calls} realtime calls: p50 {latency.p50_ms} ms, p99 {latency.p99_ms} ms"
    )
    fig.tight_layout()
    plt.close(fig)
    return Plot("latency", "Latency: server-side REPORT durations, and round trips from here", fig)


def plot_predictions(batch: BatchResult) -> Plot:
    """What the model predicted for a batch's rows, for any kind of model: a classifier's
    confidence (the probability of the class it predicted) by predicted class, a classifier's
    label counts when there are no probabilities, a regressor's values."""
    results = batch.results
    if results is None:
        raise ConfigurationError(
            "this batch's results were left in S3; run it with download=True to plot them"
        )
    frame = results.dropna(subset=[RESULT_PREDICTION])
    columns = [c for c in frame.columns if c.startswith(RESULT_PROBABILITY_PREFIX)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if columns:
        confidence = frame[columns].max(axis=1)
        top = frame[RESULT_PREDICTION].value_counts().index[:MAX_CLASSES_SHOWN]
        for label in top:
            ax.hist(
                confidence[frame[RESULT_PREDICTION] == label],
                bins=40,
                alpha=0.7,
                label=f"predicted {label}",
            )
        ax.set_xlabel("probability of the predicted class")
        ax.legend()
        caption = "Predicted class and its probability, for the batch's rows"
    elif pd.api.types.is_float_dtype(frame[RESULT_PREDICTION].infer_objects()):
        # a regressor's values (a classifier's labels are whole numbers, booleans or text)
        ax.hist(frame[RESULT_PREDICTION].astype(float), bins=40, color="tab:blue")
        ax.set_xlabel("predicted value")
        caption = "Predicted values of the batch's rows"
    else:
        counts = frame[RESULT_PREDICTION].astype(str).value_counts().iloc[:MAX_CLASSES_SHOWN]
        ax.bar(counts.index, counts.to_numpy(), color="tab:blue")
        ax.set_xlabel("predicted class")
        caption = "Predicted classes of the batch's rows"
    ax.set_ylabel("rows")
    ax.set_title(f"{batch.succeeded:,} predictions, {batch.failed:,} invalid rows")
    fig.tight_layout()
    plt.close(fig)
    return Plot("predictions", caption, fig)


def plot_drift(report: DriftReport, features: int = 4) -> Plot:
    """The most drifted features of a batch's drift report, each against its training
    distribution: the share of the present values in each bin (numeric: between the training
    quantiles; categorical: each category), training next to the batch."""
    shown = sorted((f for f in report.features if f.bins), key=lambda f: -f.drift - (f.psi or 0))
    shown = shown[: max(1, features)]
    if not shown:
        raise ConfigurationError(
            "this report has no bins to plot: plot a batch's report, "
            "ops.drift(batch=result) (a time window has counts only)"
        )
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.4), squeeze=False)
    for ax, feature in zip(axes[0], shown, strict=True):
        labels = [label for label, _, _ in feature.bins]
        at = range(len(labels))
        ax.bar([i - 0.2 for i in at], [e for _, e, _ in feature.bins], 0.4, label="training")
        ax.bar([i + 0.2 for i in at], [a for _, _, a in feature.bins], 0.4, label="batch")
        ax.set_xticks(list(at), labels, rotation=60, ha="right", fontsize=7)
        outside = feature.share if feature.training.kind == "numeric" else 0.0
        extra = f", {outside:.0%} out of range" if outside else ""
        ax.set_title(f"{feature.name}: PSI {feature.psi or 0:.2f}{extra}", fontsize=9)
    axes[0][0].set_ylabel("share of present values")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    caption = f"The most drifted features of {report.scope}, against their training distribution"
    return Plot("drift", caption, fig)
