"""Function processes in a filesystem of their own: what a function's code can read.

On Lambda a function sees its code, its runtime, ``/tmp`` and its role's credentials (in its
environment); nothing of whoever deployed it. Here every execution environment starts through
``sandbox_launch.py``: a user and mount namespace whose read-only root holds the system's
programs and libraries, the function's code and Python environment, and an empty ``/tmp``
(not the state folder with the local target's key and log, not the operator's home, not
``/proc``). Why namespaces and not a second uid: they need no root and no setuid helper, and a
second uid would still read every world-readable file of the operator.

Where Linux does not allow them (another OS, user namespaces turned off, a container's
seccomp profile), or with ``REINTENTO_LOCAL_SANDBOX=off``, functions run as the operator and
the local target says so, loudly: a warning in its log, and ``sandbox`` in its status.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = Path(__file__).with_name("sandbox_launch.py")
SWITCH = "REINTENTO_LOCAL_SANDBOX"  # "off": functions run as the operator (said in the status)
ON = "on"
TASK_ROOT = "/var/task"  # where Lambda puts a function's code (LAMBDA_TASK_ROOT)
PROBE_SECONDS = 30.0


@dataclass(frozen=True)
class Sandbox:
    """How function processes start: in their own view (``root`` set) or, said why, not."""

    root: Path | None
    why_off: str = ""
    hidden: tuple[str, ...] = ()  # what no bind may bring into the view (state folder, home)

    @property
    def state(self) -> str:
        """ "on", or why functions run as the operator (the status and the log say it)."""
        return ON if self.root is not None else f"off: {self.why_off}"

    def start(
        self, argv: list[str], task_root: str | None, env: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        """``argv`` and ``env`` as started in the view: the deployment's ``task_root`` at
        ``/var/task`` as on Lambda (the only files of the deployment in it; ``argv[0]``, its
        Python, binds its own environment), ``/tmp`` its own."""
        if self.root is None:
            return argv, env
        inner = dict(env)
        binds: list[list[str]] = []
        if task_root is not None:
            binds.append([task_root, TASK_ROOT])
            inner = {k: _moved(v, task_root) for k, v in inner.items()}
        inner["TMPDIR"] = inner["HOME"] = "/tmp"  # the view's own (as its /etc/passwd says)
        view = {
            "root": str(self.root),
            "binds": binds,
            "cwd": TASK_ROOT if binds else "/tmp",
            "hidden": list(self.hidden),
        }
        # -I -S: nothing of the environment (no .pth file) runs before the view is built
        return [argv[0], "-I", "-S", str(LAUNCHER), json.dumps(view), *argv], inner


def _moved(value: str, task_root: str) -> str:
    """A path (or a list of them) under the task root, as the view has it; else unchanged."""

    def inside(path: str) -> bool:
        return path == task_root or path.startswith(task_root + os.sep)

    return os.pathsep.join(
        TASK_ROOT + p[len(task_root) :] if inside(p) else p for p in value.split(os.pathsep)
    )


def prepare(state_dir: Path) -> Sandbox:
    """The server's sandbox, probed once at its start: a process in the view must not see the
    state folder. Never raises: what fails is the reason it is off."""
    if os.environ.get(SWITCH, "").lower() == "off":
        return Sandbox(None, f"turned off by {SWITCH}=off")
    if not sys.platform.startswith("linux"):
        return Sandbox(None, f"needs Linux user and mount namespaces (this is {sys.platform})")
    state_dir = state_dir.resolve()
    root = state_dir / "sandbox-root"
    root.mkdir(mode=0o700, exist_ok=True)
    candidate = Sandbox(root, hidden=(str(state_dir), pwd.getpwuid(os.getuid()).pw_dir))
    probe = (
        f"import os, sys; sys.exit(3 if os.path.exists({str(state_dir)!r}) "
        "or os.getuid() == 0 or os.path.exists('/proc/self') else 0)"
    )
    try:
        argv, env = candidate.start([sys.executable, "-c", probe], None, {})
        done = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return Sandbox(None, f"its probe did not run ({err})")
    if done.returncode == 3:
        return Sandbox(None, "its probe still saw the state folder, /proc or a root user")
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return Sandbox(None, f"this machine refused it ({said}); e.g. user namespaces are off")
    return candidate
