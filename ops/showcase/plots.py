"""Plots for the test notebook (matplotlib figures; the notebook shows them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ops.batch import BatchResult
from ops.observe import Metrics
from ops.showcase.checks import Latency


def plot_latency(latency: Latency, figures: Metrics) -> Figure:
    """Left: server-side REPORT durations, cold vs warm. Right: client round trips."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    cold = [(r.init_ms or 0) + r.duration_ms for r in figures.reports if r.cold]
    warm = [r.duration_ms for r in figures.reports if not r.cold]
    left.boxplot([warm or [0.0], cold or [0.0]], tick_labels=["warm", "cold (init + duration)"])
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
    return fig


def plot_predictions(batch: BatchResult) -> Figure:
    """Distribution of the positive-class probability in a batch, by predicted class."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    frame = batch.results.dropna(subset=["prediction"])
    column = [c for c in frame.columns if c.startswith("p_")][-1]
    for label, group in frame.groupby("prediction"):
        ax.hist(group[column], bins=40, alpha=0.7, label=f"predicted {label}")
    ax.set_xlabel(column)
    ax.set_ylabel("rows")
    ax.set_title(f"{batch.succeeded:,} predictions, {batch.failed:,} invalid rows")
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig
