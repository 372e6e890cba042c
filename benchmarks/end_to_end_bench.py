"""The main job after set-up: the four notebooks on a private local target, timed by notebook."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.measure import Row
from ops.showcase.runner import run_notebooks


def run() -> list[Row]:
    summary = run_notebooks(out_dir=Path(tempfile.mkdtemp()), private_local=True)
    assert summary.ok, str(summary)
    total = sum(r.seconds for r in summary.runs)
    rows = [
        Row(
            "end to end",
            f"notebook {r.name}",
            r.seconds,
            total,
            "s",
            r.seconds / total,
            "-",
            None,
            "share of the main job",
        )
        for r in summary.runs
    ]
    rows.append(
        Row(
            "end to end",
            "main job (4 notebooks)",
            total,
            total,
            "s",
            1.0,
            "-",
            None,
            "after set-up",
        )
    )
    return rows
