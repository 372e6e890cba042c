"""Manage the local target's background process: start, ensure_running, status, stop.

Its pid, port and log live in a state folder (``.local-target/`` by default). ``ensure_running``
is idempotent: it reuses a healthy server and starts one otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from reintento_local.credentials import new_credentials, private_dir, read_credentials
from reintento_local.errors import LocalTargetError
from reintento_local.gate import HEALTH_PATH

DEFAULT_MAX_ENVIRONMENTS = 4  # warm environments per function (or its reserved concurrency)

START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class LocalTargetStatus:
    """Whether the local target runs, and where."""

    running: bool
    port: int
    state_dir: Path
    pid: int | None = None
    # the answer to ``stop``: the pid it stopped, or 0 when none was running
    stopped_pid: int | None = None
    # "on" (functions start in a filesystem of their own), or "off: <why>" (reintento_local.sandbox)
    sandbox: str | None = None

    @property
    def sandboxed(self) -> bool:
        return self.sandbox == "on"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def export_lines(self, region: str = "us-east-1") -> list[str]:
        """Shell lines for the AWS CLI (its key changes at every start); empty when stopped."""
        credentials = read_credentials(self.state_dir) if self.running else None
        return credentials.export_lines(self.endpoint, region) if credentials else []

    def __str__(self) -> str:
        if self.stopped_pid:
            return (
                f"stopped the local target (pid {self.stopped_pid}, port {self.port}); what was "
                "deployed to it is gone"
            )
        if self.stopped_pid == 0:
            return f"the local target was not running (port {self.port}): nothing to stop"
        if not self.running:
            return f"the local target is not running (port {self.port})"
        lines = [
            f"the local target runs on {self.endpoint} (pid {self.pid}); "
            "for the AWS CLI in this shell:",
            *self.export_lines(),
        ]
        if self.sandbox is not None and not self.sandboxed:
            lines.append(
                f"WARNING: functions are not sandboxed ({self.sandbox.removeprefix('off: ')}): "
                "a function's code can read what you can (SECURITY.md)"
            )
        return "\n".join(lines)


def _healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_server(pid: int, state_dir: Path) -> bool:
    """The pid is a local-target server of this user for this state folder (not a reused pid)."""
    proc = Path(f"/proc/{pid}")
    try:
        if proc.stat().st_uid != os.getuid():
            return False
        argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in argv]
    if "reintento_local.server" not in args or "--state-dir" not in args:
        return False
    given = args[args.index("--state-dir") + 1] if args.index("--state-dir") + 1 < len(args) else ""
    return Path(given).resolve() == state_dir.resolve()


# What the server takes of the operator's environment, by name or prefix: where programs and
# files are, locale and time, how pip reaches its index (the function environments' builds),
# which certificates to trust, the numeric kernels (functions answer as the operator's
# process does), and the local target's own settings. Nothing else: not the operator's AWS
# keys, profiles or endpoints, not another service's token (GITHUB_TOKEN and the like).
ALLOWED_VARIABLES = frozenset(
    {
        "PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "USER", "LOGNAME", "TERM",
        "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
        "PYTHONWARNINGS", "VIRTUAL_ENV", "XDG_CACHE_HOME",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NPY_DISABLE_CPU_FEATURES",
        "NPY_ENABLE_CPU_FEATURES", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS",
    }
)  # fmt: skip
ALLOWED_PREFIXES = ("LC_", "PIP_", "UV_", "MOTO_", "REINTENTO_")


def server_environment(state_dir: Path) -> dict[str, str]:
    """The server's environment: an allow-list of the operator's (``ALLOWED_VARIABLES``,
    ``ALLOWED_PREFIXES``; no ``AWS_*`` variable, no other service's secret), with ``HOME``
    inside the state folder (no ``~/.aws`` to find)."""
    from reintento_local.function_env import cache_root

    env = {
        k: v
        for k, v in os.environ.items()
        if k in ALLOWED_VARIABLES or k.startswith(ALLOWED_PREFIXES)
    }
    # the functions' environments the deploy built (HOME moves, the cache must not)
    env["REINTENTO_CACHE_DIR"] = str(cache_root().parent)
    env["HOME"] = str(private_dir(state_dir / "home"))
    # AWS managed policies exist in every account (roles attach them by ARN, e.g. the CDK
    # bootstrap's deploy role and AWSCloudFormationReadOnlyAccess); moto loads them on request
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    return env


def _read_info(state_dir: Path) -> dict[str, object] | None:
    path = state_dir / "server.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def metrics_delay(state_dir: Path) -> float:
    """How long after a call its CloudWatch metrics are visible on the local target that runs
    from ``state_dir`` (``reintento_local.aws_metrics``): a test's ``late_metrics`` rule, else
    the delay the server started with."""
    from reintento_local import aws_metrics, faults

    late = faults.late_metrics(state_dir)
    if late is not None:
        return late
    info = _read_info(state_dir) or {}
    try:
        return float(str(info.get("metrics_delay_seconds", aws_metrics.DEFAULT_DELAY_SECONDS)))
    except ValueError:
        return aws_metrics.DEFAULT_DELAY_SECONDS


def status(port: int, state_dir: Path) -> LocalTargetStatus:
    info = _read_info(state_dir)
    pid = int(str(info["pid"])) if info and "pid" in info else None
    ours = (
        info is not None
        and int(str(info.get("port"))) == port
        and pid is not None
        and _pid_alive(pid)
        and _is_our_server(pid, state_dir)
    )
    sandbox = str(info.get("sandbox")) if ours and info and "sandbox" in info else None
    return LocalTargetStatus(
        ours and _healthy(port), port, state_dir, pid if ours else None, sandbox=sandbox
    )


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (for private local targets)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(
    port: int, state_dir: Path, max_environments: int = DEFAULT_MAX_ENVIRONMENTS
) -> LocalTargetStatus:
    """Start a server; a clear error when the port is taken by something else."""
    current = status(port, state_dir)
    if current.running:
        raise LocalTargetError(
            f"the local target already runs on {current.endpoint} (pid {current.pid}); "
            "use ensure_running() to reuse it or stop() first"
        )
    if not _port_free(port):
        raise LocalTargetError(
            f"port {port} on 127.0.0.1 is taken by another process; stop it or choose another "
            "port with REINTENTO_LOCAL_PORT=<port>"
        )
    private_dir(state_dir)
    new_credentials(state_dir)
    log_path = state_dir / "server.log"
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    log_path.chmod(0o600)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reintento_local.server",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            "--max-environments",
            str(max_environments),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=str(Path(__file__).resolve().parents[2]),
        env=server_environment(state_dir),
        umask=0o077,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (state_dir / "server.log").read_text(errors="replace")[-2000:]
            raise LocalTargetError(
                f"the local target exited while starting (code {proc.returncode}); its log "
                f"{state_dir / 'server.log'} ends with:\n{tail}"
            )
        info = _read_info(state_dir)
        if info and info.get("pid") == proc.pid and _healthy(port):
            return status(port, state_dir)  # with what the server says (its sandbox)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    raise LocalTargetError(
        f"the local target did not answer on port {port} within {START_TIMEOUT_SECONDS:.0f} s; "
        f"see {state_dir / 'server.log'}"
    )


def ensure_running(
    port: int, state_dir: Path, max_environments: int = DEFAULT_MAX_ENVIRONMENTS
) -> LocalTargetStatus:
    current = status(port, state_dir)
    return current if current.running else start(port, state_dir, max_environments)


def stop(port: int, state_dir: Path, timeout: float = 15.0) -> LocalTargetStatus:
    """Stop our server (its execution environments end with it); a no-op when none runs.

    Only a process that is our server for this state folder is signalled: a pid recorded by a
    server that has since exited may belong to another program now."""
    current = status(port, state_dir)
    stopped = 0
    if current.pid is not None and _is_our_server(current.pid, state_dir):
        stopped = current.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(current.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(current.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(current.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(current.pid, signal.SIGKILL)
    (state_dir / "server.json").unlink(missing_ok=True)
    return LocalTargetStatus(False, port, state_dir, None, stopped_pid=stopped)
