"""Cold start: a fresh interpreter's first handler call vs the floor (import sklearn + load)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.handler_bench import ONNX_KEY, ROOT, serve_model
from benchmarks.measure import Row

OURS = """
import time, json, io, contextlib
t0 = time.perf_counter()
import reintento_function.lambda_predict_reintento as h
t1 = time.perf_counter()
class C:
    function_name = "bench"; memory_limit_in_mb = 1024; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
with contextlib.redirect_stdout(io.StringIO()):
    h.handler({"instances": ROWS}, C())
t2 = time.perf_counter()
model = h._state["cache"].model
timings = {"import_ms": (t1 - t0) * 1000, "first_call_ms": (t2 - t1) * 1000}
print(json.dumps({**timings, "model_load_ms": model.load_ms}))
"""
FLOOR = "import sklearn, joblib; joblib.load({path!r})"


def _wall(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, check=True, cwd=ROOT / "lambda"
    )
    return (time.perf_counter() - started) * 1000, done.stdout


def run(model_path: Path, repeats: int = 5) -> tuple[list[Row], dict[str, float]]:
    from ops.modelfiles.demo_model import sample_rows

    server = serve_model(model_path)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "lambda"))
        ours_code = OURS.replace("ROWS", json.dumps(sample_rows(1)))
        ours, floor, parts = [], [], []
        for _ in range(repeats):
            ms, out = _wall([sys.executable, "-c", ours_code], env)
            ours.append(ms)
            parts.append(json.loads(out.strip().splitlines()[-1]))
            floor.append(_wall([sys.executable, "-c", FLOOR.format(path=str(model_path))], env)[0])
        o, f = statistics.median(ours), statistics.median(floor)
        breakdown = {k: round(statistics.median(p[k] for p in parts), 1) for k in parts[0]}
        breakdown["interpreter_and_rest_ms"] = round(
            o - breakdown["import_ms"] - breakdown["first_call_ms"], 1
        )
        row = Row(
            "cold start",
            "first handler call in a fresh interpreter",
            o,
            f,
            "ms",
            o / f,
            "<= 1.3x",
            o <= 1.3 * f,
            "floor: fresh interpreter, import sklearn + joblib.load; breakdown in latest.json",
        )
        onnx_env = {**env, "MODEL_KEY": ONNX_KEY}
        compiled = statistics.median(
            _wall([sys.executable, "-c", ours_code], onnx_env)[0] for _ in range(repeats)
        )
        onnx_row = Row(
            "compiled engine",
            "cold start, ONNX engine (first handler call in a fresh interpreter)",
            compiled,
            o,
            "ms",
            compiled / o,
            "<= 0.3x",
            compiled <= 0.3 * o,
            "vs the scikit-learn engine's cold start above (same handler, the pickle)",
        )
        return [row, onnx_row, _installed_size_row()], breakdown
    finally:
        server.stop()


def _installed_mb(*distributions: str) -> float:
    """What the distributions' files take on disk, as installed here (the function's lock pins
    the same versions)."""
    from importlib.metadata import distribution

    total = 0
    for name in distributions:
        for file in distribution(name).files or ():
            located = Path(str(file.locate()))
            total += located.stat().st_size if located.is_file() else 0
    return total / 1024**2


def _installed_size_row() -> Row:
    """#30: the libraries each engine imports, installed (NumPy, which both use, aside)."""
    sklearn_mb = _installed_mb("scikit-learn", "scipy", "pandas", "joblib", "threadpoolctl")
    onnx_mb = _installed_mb("onnxruntime", "flatbuffers", "protobuf")
    return Row(
        "compiled engine",
        "installed size of the engine's libraries, ONNX",
        onnx_mb,
        sklearn_mb,
        "MB",
        onnx_mb / sklearn_mb,
        "-",
        None,
        "onnxruntime (+ flatbuffers, protobuf) vs scikit-learn + SciPy + pandas + joblib; "
        "the image holds both, a cold start of the ONNX engine loads only its own",
    )
