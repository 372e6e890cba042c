"""Shared pieces of the benchmarks: timing, a result row, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any


@dataclass(frozen=True)
class Row:
    """One measured figure next to its baseline, measured in the same run."""

    group: str
    name: str
    value: float
    baseline: float
    unit: str
    ratio: float
    target: str
    met: bool | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def paired_median_ms(
    first: Callable[[], Any], second: Callable[[], Any], repeats: int, warmup: int = 2
) -> tuple[float, float]:
    """Median ms of each of two calls, measured in turn (first, second, first, ...), so a drift
    of the machine's speed during the measurement reaches both alike."""
    for _ in range(warmup):
        first()
        second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, into in ((first, samples[0]), (second, samples[1])):
            started = time.perf_counter()
            fn()
            into.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples[0]), statistics.median(samples[1])


def machine() -> dict[str, Any]:
    libs = ("scikit-learn", "numpy", "pandas", "moto", "boto3", "awslambdaric", "aws-cdk-lib")
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        **{name: metadata.version(name) for name in libs},
    }
