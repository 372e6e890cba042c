"""Every line a function writes during an invocation is in that invocation's log lines, so it
is put with its REPORT line (``reintento_local.environment.ExecutionEnvironment``). Lambda flushes
an invocation's output before its REPORT line: a line must never slip to the next invocation, or
be lost with an environment that is not invoked again."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from reintento_local.environment import ExecutionEnvironment, FunctionSpec

HANDLER = """
import sys

def handler(event, context):
    sys.stdout.write(event["marker"] + "\\n")
    sys.stdout.flush()
    return event["marker"]
"""


def _spec(code: Path) -> FunctionSpec:
    return FunctionSpec(
        name="lines",
        arn="arn:aws:lambda:us-east-1:123456789012:function:lines:1",
        version="1",
        handler="app.handler",
        python=sys.executable,
        code_paths=(str(code),),
        env=(),
        timeout_seconds=10.0,
        memory_mb=128,
        log_group="/aws/lambda/lines",
        max_environments=1,
    )


def test_each_invocation_s_own_lines_are_in_its_log_lines_under_load(tmp_path: Path) -> None:
    # GIVEN a function that writes a line and answers at once, and a busy process (the local
    # target's threads contend for the interpreter: the thread reading the output is late)
    (tmp_path / "app.py").write_text(HANDLER)
    environment = ExecutionEnvironment(_spec(tmp_path), {})
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(10_000))

    burners = [threading.Thread(target=busy, daemon=True) for _ in range(3)]
    for burner in burners:
        burner.start()
    try:
        # WHEN it is invoked many times
        slipped = []
        for i in range(100):
            marker = f"line-{i}"
            result = environment.invoke(json.dumps({"marker": marker}).encode(), f"req-{i}")
            assert not result.errored, result.payload
            # THEN each invocation's line is among its own lines, not a later one's
            if marker not in result.log_lines:
                slipped.append((marker, result.log_lines))
        assert not slipped, slipped[:3]
    finally:
        stop.set()
        environment.kill()
