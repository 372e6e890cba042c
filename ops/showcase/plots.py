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
from matplotlib.figure import Figure

from ops.batch import BatchResult
from ops.display import RECORD_MIME
from ops.errors import ConfigurationError
from ops.observe import Metrics
from ops.showcase.checks import Latency
from reintento_function.contract import RESULT_PROBABILITY_PREFIX


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
    """Distribution of the positive-class probability in a batch, by predicted class."""
    results = batch.results
    if results is None or not any(c.startswith(RESULT_PROBABILITY_PREFIX) for c in results):
        raise ConfigurationError(
            "this batch has no probabilities to plot (its results were left in S3, or it ran "
            "with probabilities=False); run it with download=True and probabilities=True"
        )
    fig, ax = plt.subplots(figsize=(7, 3.5))
    frame = results.dropna(subset=["prediction"])
    column = [c for c in frame.columns if c.startswith(RESULT_PROBABILITY_PREFIX)][-1]
    for label, group in frame.groupby("prediction"):
        ax.hist(group[column], bins=40, alpha=0.7, label=f"predicted {label}")
    ax.set_xlabel(column)
    ax.set_ylabel("rows")
    ax.set_title(f"{batch.succeeded:,} predictions, {batch.failed:,} invalid rows")
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return Plot("predictions", f"Predicted probability ({column}) of the batch's rows", fig)
