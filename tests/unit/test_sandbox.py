"""Function processes start in a filesystem view of their own (reintento_local.sandbox): what
the view holds, what a failed launch does, and how an unavailable sandbox is said."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reintento_local import sandbox
from reintento_local.process import LocalTargetStatus

LOOK = """
import json, os, sys
paths = json.loads(sys.argv[1])
seen = {p: os.path.exists(p) for p in paths}
open("/tmp/" + sys.argv[2], "w").write("x")
print(json.dumps({"seen": seen, "cwd": os.getcwd(), "task": sorted(os.listdir("/var/task")),
                  "tmpdir": os.environ.get("TMPDIR"), "where": os.environ.get("WHERE")}))
"""


def test_a_process_in_the_view_sees_its_code_at_var_task_and_nothing_of_the_operator(
    tmp_path: Path,
) -> None:
    # GIVEN a state folder holding a key, a deployment's code in it, and a file in the home
    state = tmp_path / "state"
    code = state / "images" / "tag1"
    code.mkdir(parents=True)
    (code / "app.py").write_text("x = 1\n")
    (state / "credentials.json").write_text("{}")
    box = sandbox.prepare(state)
    assert box.state == sandbox.ON, box.why_off
    scratch = f"scratch-{os.getpid()}"
    home_file = Path.home() / f".reintento-sandbox-unit-{os.getpid()}"
    hidden = [str(state), str(state / "credentials.json"), str(home_file), "/proc/self"]
    # WHEN a process starts through it, with the code's folder as its task root
    argv, env = box.start(
        [sys.executable, "-c", LOOK, json.dumps(hidden), scratch],
        str(code),
        {"WHERE": f"{code}/app.py"},
    )
    home_file.write_text("the operator's")
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=code)
    finally:
        home_file.unlink()
    answer = json.loads(done.stdout)
    # THEN it sees none of those, runs in /var/task with its code, and writes only its /tmp
    assert answer["seen"] == dict.fromkeys(hidden, False)
    assert (answer["cwd"], answer["task"]) == ("/var/task", ["app.py"])
    assert answer["where"] == "/var/task/app.py"  # paths in its environment follow its code
    assert answer["tmpdir"] == "/tmp"
    assert not Path("/tmp", scratch).exists()


def test_a_launch_that_cannot_build_its_view_never_runs_the_command(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    box = sandbox.Sandbox(tmp_path / "no-such-root")
    argv, env = box.start([sys.executable, "-c", f"open({str(mark)!r}, 'w')"], None, {})
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 125
    assert done.stderr.startswith("sandbox: ")
    assert not mark.exists()


def test_turned_off_it_says_so_and_starts_commands_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.SWITCH, "off")
    box = sandbox.prepare(tmp_path)
    assert box.state == f"off: turned off by {sandbox.SWITCH}=off"
    assert box.start(["python", "x.py"], "/code", {"A": "/code/b"}) == (
        ["python", "x.py"],
        {"A": "/code/b"},
    )


def test_the_status_warns_when_functions_are_not_sandboxed(tmp_path: Path) -> None:
    off = LocalTargetStatus(True, 4566, tmp_path, 123, sandbox="off: this machine refused it")
    on = LocalTargetStatus(True, 4566, tmp_path, 123, sandbox="on")
    assert "WARNING: functions are not sandboxed (this machine refused it)" in str(off)
    assert "WARNING" not in str(on) and on.sandboxed and not off.sandboxed
