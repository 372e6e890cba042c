"""What every target shares: the settings, the clients made for them, cached outputs, and the
per-process cache of targets (``forget`` drops what a (re)start or teardown made stale)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3

from ops.aws import clients, cloudformation
from ops.aws.assembly import CloudAssembly
from ops.aws.outputs import OUTPUT_KEYS, StackOutputs, read_outputs
from ops.display import Link
from ops.errors import StackNotDeployedError
from ops.settings import Settings


@dataclass(frozen=True)
class DeployShape:
    """What the prechecks need of the stacks' context."""

    architecture: str
    reserved_concurrency: int | None
    max_concurrency: int
    timeout_seconds: int = 30
    latency_alarm_ms: float | None = None


class Target:
    """Where ops works: the settings and the clients for them (created on first use)."""

    kind: ClassVar[str] = ""
    deploy_method: ClassVar[str] = ""
    teardown_in_notebooks: ClassVar[bool] = False  # may 04_teardown delete unless told?

    # ---------------------------------------------------------------- what differs

    def session(self) -> boto3.Session:
        raise NotImplementedError

    def endpoint(self) -> str | None:
        raise NotImplementedError

    def running(self) -> bool:
        """Reachable without starting anything (status never starts a target)."""
        raise NotImplementedError

    def not_deployed(self, err: StackNotDeployedError) -> StackNotDeployedError:
        """The error to raise when the stacks are missing (with the target's own hint)."""
        return err

    def synth(self, context: Mapping[str, str]) -> CloudAssembly:
        raise NotImplementedError

    def deploy_assembly(self, cloud: CloudAssembly) -> tuple[str, ...]:
        """Deploy every stack of ``cloud``; return the names of those that changed."""
        raise NotImplementedError

    def prechecks(self, stacks: DeployShape) -> tuple[tuple[str, str], ...]:
        """The read-only checks a deploy runs before changing anything, each (what, outcome:
        "ok: ...", "FAILED: ...", or "not checked: ..."), for a dry run to report."""
        return ()

    def check_account(self, stacks: DeployShape) -> None:
        """Refuse a deploy the account cannot take (on AWS: its Lambda concurrency)."""

    def places(self, outputs: StackOutputs | None) -> dict[str, Link]:
        """Where a person sees what the stacks created (console pages, or CLI commands), by
        role: "model stack", "service stack", "function", "logs", "executions", "dashboard",
        "alarms", "model"."""
        raise NotImplementedError

    def address(self) -> str | None:
        """The endpoint to show a person (None: AWS's own); never starts anything."""
        raise NotImplementedError

    def metrics_delay_seconds(self) -> float:
        """How long after a call its CloudWatch metrics can be read, at most: what a judge of
        fresh metrics waits before it trusts a window to hold every call."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shared

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._outputs: StackOutputs | None = None
        self._model_stack: Mapping[str, str] | None = None
        self._lock = threading.Lock()
        self._invocations: deque[tuple[float, str]] = deque(maxlen=10_000)
        self._last_call = 0.0

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = clients.make_client(
                    self.session(), service, self.endpoint()
                )
            return self._clients[service]

    def _model_stack_output(self, key: str) -> str:
        """One output of the model stack alone (it outlives the service stack), read once."""
        if self._model_stack is None:
            cf = self.client("cloudformation")
            self._model_stack = cloudformation.outputs(cf, self.settings.model_stack_name)
        return self._model_stack[OUTPUT_KEYS[key]]

    @property
    def model_bucket(self) -> str:
        """The model bucket (the model stack's)."""
        return self._model_stack_output("model_bucket")

    @property
    def signing_key(self) -> str:
        """The signing key (the model stack's, as the bucket)."""
        return self._model_stack_output("signing_key")

    @property
    def outputs(self) -> StackOutputs:
        if self._outputs is None:
            try:
                self._outputs = read_outputs(self.client("cloudformation"), self.settings)
            except StackNotDeployedError as err:
                raise self.not_deployed(err) from err
        return self._outputs

    def note_invocation(self, request_id: str) -> None:
        """Remember a request id of an invocation made here (and when)."""
        with self._lock:
            self._invocations.append((time.time(), request_id))
            self._last_call = time.time()

    def note_calls_ended(self) -> None:
        """Remember that calls made on this process's behalf ended now (a batch's slices)."""
        with self._lock:
            self._last_call = time.time()

    def last_call(self) -> float:
        """When the last call made here, or on its behalf, ended (epoch seconds; 0: none)."""
        with self._lock:
            return self._last_call

    def invocations_since(self, when: float) -> tuple[str, ...]:
        """Request ids of the invocations made here since ``when`` (epoch seconds)."""
        with self._lock:
            return tuple(request for at, request in self._invocations if at >= when)

    def forget_outputs(self) -> None:
        self._outputs = None
        self._model_stack = None

    def forget_clients(self) -> None:
        """Drop the clients (the local target's key changes at every start)."""
        with self._lock:
            self._clients.clear()


_targets: dict[tuple[Any, ...], Target] = {}
_targets_lock = threading.Lock()


def _key(settings: Settings) -> tuple[Any, ...]:
    return (
        settings.target,
        settings.region,
        settings.profile,
        settings.stage,
        settings.stack_prefix,
        settings.model_key,
        settings.local_port,
        str(settings.state_dir),
    )


def cached(settings: Settings, make: Callable[[Settings], Target]) -> Target:
    """The target cached for ``settings`` (made with ``make`` the first time)."""
    with _targets_lock:
        target = _targets.get(_key(settings))
        if target is None or target.settings != settings:
            target = _targets[_key(settings)] = make(settings)
        return target


def forget(local_port: int | None = None) -> None:
    """Forget cached outputs: all of them, or those of one local target's port."""
    with _targets_lock:
        for target in _targets.values():
            if local_port is None or target.settings.local_port == local_port:
                target.forget_outputs()
                target.forget_clients()
