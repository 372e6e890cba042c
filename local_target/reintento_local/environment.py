"""Execution environments: one ``awslambdaric`` process each, warm between invocations.

An environment imports the handler once (so a module-level model cache survives, as on Lambda),
serves one invocation at a time, and is replaced after a timeout or a crash. A bounded pool per
function queues calls beyond its size; it never deadlocks because every acquire is released.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from reintento_local.iam_enforcement import RoleCredentials
from reintento_local.runtime_api import Invocation, Outcome, RuntimeApi
from reintento_local.sandbox import Sandbox

INIT_TIMEOUT_SECONDS = 120.0
UNSANDBOXED = Sandbox(None, "no sandbox was given to this runtime")
# What a function process takes from the machine: the basics, and the variables that choose this
# machine's numeric kernels (a forced OpenBLAS core type sums in another order than the one it
# detects: a linear model's answer then differs in its last bit from model.predict in the
# operator's own process). Nothing else of the operator's environment reaches a function.
HOST_VARIABLES = (
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
)


@dataclass(frozen=True)
class FunctionSpec:
    """Everything that defines an environment; a change means new environments."""

    name: str
    arn: str
    version: str
    handler: str
    python: str  # the image's environment (reintento_local.function_env)
    code_paths: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    timeout_seconds: float
    memory_mb: int
    log_group: str
    max_environments: int

    @property
    def key(self) -> str:
        return json.dumps(
            [
                self.arn,
                self.version,
                self.handler,
                self.python,
                self.code_paths,
                self.env,
                self.timeout_seconds,
                self.memory_mb,
            ]
        )


@dataclass
class Result:
    """One invocation: payload (response or error JSON), whether it is a function error."""

    payload: bytes
    errored: bool
    request_id: str
    duration_ms: float
    cold: bool
    init_ms: float | None
    log_lines: list[str] = field(default_factory=list)
    replaced: bool = False


class ExecutionEnvironment:
    """One runtime client process and its Runtime API endpoint."""

    def __init__(
        self,
        spec: FunctionSpec,
        extra_env: dict[str, str],
        credentials_expire_at: float | None = None,
        sandbox: Sandbox = UNSANDBOXED,
    ) -> None:
        self.spec = spec
        self.credentials_expire_at = credentials_expire_at
        self.api = RuntimeApi()
        self.stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self._lines: list[str] = []
        self._lock = threading.Lock()
        env = {k: os.environ[k] for k in HOST_VARIABLES if k in os.environ}
        env.update(dict(spec.env))
        env.update(extra_env)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": self.api.address,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.stream,
                "PYTHONPATH": os.pathsep.join(spec.code_paths),
            }
        )
        argv, env = sandbox.start(
            [spec.python, "-m", "awslambdaric", spec.handler], spec.code_paths[0], env
        )
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            cwd=spec.code_paths[0],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.api.admit(self.proc.pid)  # its Runtime API serves this process only
        assert self.proc.stdout is not None
        self._out: IO[bytes] = self.proc.stdout
        self._fd = self._out.fileno()
        os.set_blocking(self._fd, False)  # read only what is there, under the lock
        self._partial = b""
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = started + INIT_TIMEOUT_SECONDS
        while not self.api.ready.wait(0.05):
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                break
        self.init_ms = (time.perf_counter() - started) * 1000
        self.invocations = 0

    def _pump(self) -> None:
        """Keep the pipe from filling while the function runs (a full pipe would block its
        writes). Reads happen under the lock, like ``_drain``'s: a line read is a line kept."""
        while True:
            select.select([self._fd], [], [], 0.5)
            with self._lock:
                if not self._read_available():
                    return

    def _read_available(self) -> bool:
        """Under the lock: every byte now in the pipe into lines; False at end of file (the
        last, unfinished line kept as a line)."""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                if self._partial:
                    self._lines.append(self._partial.decode("utf-8", errors="replace"))
                    self._partial = b""
                return False
            *done, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(line.decode("utf-8", errors="replace") for line in done)

    def _drain(self) -> list[str]:
        """The lines written so far. What the function wrote before it answered is in the pipe
        by now, so it is read here, whether or not the pump thread has run since (Lambda puts an
        invocation's output before its REPORT line)."""
        with self._lock:
            self._read_available()
            lines, self._lines = self._lines, []
        return lines

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self.api.init_error is None

    def invoke(self, payload: bytes, request_id: str) -> Result:
        cold = self.invocations == 0
        self.invocations += 1
        init_lines = self._drain() if cold else []
        start = time.perf_counter()
        if self.api.init_error is not None or self.proc.poll() is not None:
            error = self.api.init_error or Outcome(request_id, False, b"", "Runtime.ExitError")
            body = error.body or _error(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited with error: exit status "
                f"{self.proc.poll()}",
            )
            return Result(body, True, request_id, 0.0, cold, self.init_ms, init_lines, True)
        deadline_ms = int(time.time() * 1000 + self.spec.timeout_seconds * 1000)
        self.api.submit(Invocation(request_id, payload, deadline_ms, self.spec.arn))
        outcome = self._wait(request_id, start)
        duration = (time.perf_counter() - start) * 1000
        lines = init_lines + self._drain()
        if outcome is None:
            replaced = True
            if self.proc.poll() is None:
                self.kill()
                body = _error(
                    "Sandbox.Timedout",
                    f"{datetime.now(UTC).isoformat()} {request_id} Task timed out after "
                    f"{self.spec.timeout_seconds:.2f} seconds",
                )
            else:
                body = _error(
                    "Runtime.ExitError",
                    f"RequestId: {request_id} Error: Runtime exited with error: exit status "
                    f"{self.proc.returncode}",
                )
            return Result(body, True, request_id, duration, cold, self.init_ms, lines, replaced)
        return Result(outcome.body, not outcome.ok, request_id, duration, cold, self.init_ms, lines)

    def fail(self, request_id: str, kind: str) -> Result:
        """An injected platform fault (reintento_local.faults): the environment dies either way."""
        cold = self.invocations == 0
        self.invocations += 1
        lines = self._drain() if cold else []
        self.kill()
        if kind == "timeout":
            body = _error(
                "Sandbox.Timedout",
                f"{datetime.now(UTC).isoformat()} {request_id} Task timed out after "
                f"{self.spec.timeout_seconds:.2f} seconds",
            )
            duration = self.spec.timeout_seconds * 1000
        else:
            body = _error(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
            )
            duration = 0.0
        return Result(body, True, request_id, duration, cold, self.init_ms, lines, True)

    def _wait(self, request_id: str, start: float) -> Outcome | None:
        deadline = start + self.spec.timeout_seconds
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            try:
                outcome = self.api.outcomes.get(timeout=min(remaining, 0.05))
            except queue.Empty:
                if self.proc.poll() is not None:
                    return None
                continue
            if outcome.request_id == request_id:
                return outcome

    def max_memory_mb(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
        return 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        self.api.close()


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


# An environment whose role credentials expire sooner than this takes no new invocation: a new
# environment, with fresh credentials, does (Lambda never runs a function with expired ones).
REFRESH_BEFORE_SECONDS = 15 * 60


def _credentials_expiring(environment: ExecutionEnvironment) -> bool:
    expires = environment.credentials_expire_at
    return expires is not None and expires - time.time() < REFRESH_BEFORE_SECONDS


class MintedCredentials:
    """A function role's credentials for new environments, minted again when they would expire
    within ``REFRESH_BEFORE_SECONDS``."""

    def __init__(self, mint: Callable[[], RoleCredentials]) -> None:
        self.mint = mint
        self._current: RoleCredentials | None = None
        self._lock = threading.Lock()

    def current(self) -> RoleCredentials:
        with self._lock:
            if self._current is None or (
                self._current.expires_at - time.time() < REFRESH_BEFORE_SECONDS
            ):
                self._current = self.mint()
            return self._current


class Pool:
    """At most ``spec.max_environments`` environments; warmest (last used) first."""

    def __init__(self, spec: FunctionSpec, factory: Callable[[], ExecutionEnvironment]) -> None:
        self.spec, self.factory = spec, factory
        self.idle: list[ExecutionEnvironment] = []
        self.count = 0
        self.cold_starts = 0
        self.invocations = 0
        self.closed = False  # retired: environments are killed when their invocation ends
        self.cv = threading.Condition()

    def acquire(self) -> ExecutionEnvironment:
        with self.cv:
            while True:
                if self.idle:
                    environment = self.idle.pop()
                    if not _credentials_expiring(environment):
                        return environment
                    environment.kill()  # replaced by one with fresh credentials, as Lambda does
                    self.count -= 1
                    continue
                if self.count < self.spec.max_environments:
                    self.count += 1
                    break
                self.cv.wait()
        try:
            environment = self.factory()
        except BaseException:
            with self.cv:
                self.count -= 1
                self.cv.notify()
            raise
        with self.cv:
            self.cold_starts += 1
        return environment

    def release(self, environment: ExecutionEnvironment, healthy: bool) -> None:
        with self.cv:
            self.invocations += 1
            if healthy and environment.alive and not self.closed:
                self.idle.append(environment)
            else:
                environment.kill()
                self.count -= 1
            self.cv.notify()

    def shutdown(self) -> None:
        """Retire: idle environments now, busy ones when their invocation ends (it finishes on
        the old configuration, as on Lambda)."""
        with self.cv:
            self.closed = True
            for environment in self.idle:
                environment.kill()
            self.count -= len(self.idle)
            self.idle.clear()
