"""Run every benchmark; print the table; write results/latest.json and results/latest.png.

make bench        # or: python -m benchmarks.run
python -m benchmarks.run --batch-rows 10000000   # only the batch, at 10 million rows
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks import cold_start_bench, end_to_end_bench, handler_bench, local_target_bench
from benchmarks.measure import Row, machine
from ops.modelfiles.demo_model import save_demo_model

RESULTS = Path(__file__).resolve().parent / "results"


def table(rows: list[Row]) -> str:
    """A Markdown table (printed, and pasted into the README)."""
    header = ("group", "measure", "value", "baseline", "ratio", "target", "met")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        value, baseline = f"{r.value:,.1f} {r.unit}", f"{r.baseline:,.1f} {r.unit}"
        cells = (r.group, r.name, value, baseline, f"{r.ratio:.2f}x", r.target, met)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> None:
    judged = [r for r in rows if r.met is not None]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.barh(
        [r.name for r in judged],
        [r.ratio for r in judged],
        color=["tab:green" if r.met else "tab:red" for r in judged],
    )
    ax.set_xlabel("ratio to the baseline measured in the same run")
    ax.set_xlim(0, max(r.ratio for r in judged) * 1.6)
    ax.set_title("benchmarks with a target (green: met)")
    for i, r in enumerate(judged):
        ax.text(r.ratio, i, f" {r.ratio:.2f}x (target {r.target})", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--batch-rows",
        type=int,
        help="run only the batch benchmark, at this many rows (e.g. 10000000); results are "
        "printed, latest.json is left as it is",
    )
    args = parser.parse_args()
    started = time.monotonic()
    model_path = save_demo_model(Path(tempfile.mkdtemp()) / "mejor_modelo.pkl").path
    if args.batch_rows:
        only, phases = local_target_bench.batch_only(args.batch_rows, model_path)
        print(table(only))
        print(f"batch phases (s): {phases}")
        print(f"machine: {machine()}; took {time.monotonic() - started:.0f} s")
        return
    rows: list[Row] = []
    rows += handler_bench.run(model_path)
    cold_rows, cold_breakdown = cold_start_bench.run(model_path)
    rows += cold_rows
    local_rows, batch_phases = local_target_bench.run(model_path)
    rows += local_rows
    rows += end_to_end_bench.run()
    RESULTS.mkdir(exist_ok=True)
    report = {
        "machine": machine(),
        "seconds": round(time.monotonic() - started, 1),
        "rows": [r.as_dict() for r in rows],
        "cold_start_breakdown_ms": cold_breakdown,
        "batch_phases_s": batch_phases,
    }
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(rows, RESULTS / "latest.png")
    print(table(rows))
    print(f"\ncold start breakdown (ms): {cold_breakdown}")
    print(f"batch phases (s): {batch_phases}")
    print(f"machine: {report['machine']}")
    print(f"benchmarks took {report['seconds']} s; results in {RESULTS}")


if __name__ == "__main__":
    main()
