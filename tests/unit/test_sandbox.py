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


INSIDE = """
import ctypes, getpass, os, sys
libc = ctypes.CDLL(None, use_errno=True)
remount = libc.mount(None, b"/usr", None, ctypes.c_ulong(32 | 4096), None)  # MS_REMOUNT|MS_BIND
try:
    open("/var/task/new.py", "w")
    wrote = True
except OSError:
    wrote = False
print(os.getuid(), getpass.getuser(), os.path.expanduser("~"), remount, wrote)
"""


def test_the_function_is_not_root_in_its_view_and_cannot_make_it_writable(tmp_path: Path) -> None:
    # GIVEN a view (even when the operator is root: the review found a root inside could
    # remount /usr writable, then write the operator's Python)
    code = tmp_path / "state" / "images" / "t"
    code.mkdir(parents=True)
    box = sandbox.prepare(tmp_path / "state")
    argv, env = box.start([sys.executable, "-c", INSIDE], str(code), {})
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    uid, user, home, remount, wrote = done.stdout.split()
    # THEN it runs as Lambda's user, its home is /tmp, and it can neither remount nor write code
    assert (uid, user, home) == ("993", "sbx_user1051", "/tmp")
    assert (remount, wrote) == ("-1", "False")


def test_nothing_of_a_python_environment_runs_before_its_view_is_built(tmp_path: Path) -> None:
    # GIVEN a Python environment holding a .pth file (code site runs at every start)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    mark = tmp_path / "ran-on-the-machine"
    (site / "evil.pth").write_text(f"import pathlib; pathlib.Path({str(mark)!r}).touch()\n")
    (tmp_path / "state").mkdir()
    box = sandbox.prepare(tmp_path / "state")
    # WHEN a process of that environment starts through the sandbox
    argv, env = box.start([str(venv / "bin" / "python"), "-c", "pass"], None, {})
    subprocess.run(argv, env=env, capture_output=True, check=True)
    # THEN the .pth ran, if at all, inside the view: the machine has no mark
    assert not mark.exists()


def test_a_python_installed_around_what_the_view_hides_is_refused(tmp_path: Path) -> None:
    box = sandbox.Sandbox(tmp_path / "root", hidden=(str(Path(sys.base_prefix) / "lib"),))
    (tmp_path / "root").mkdir()
    argv, env = box.start([sys.executable, "-c", "pass"], None, {})
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 125
    assert "would show" in done.stderr


def test_a_relative_state_folder_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "state").mkdir()
    box = sandbox.prepare(Path("state"))
    assert box.root == tmp_path / "state" / "sandbox-root"
    assert box.state == sandbox.ON
