"""One operating context per settings: cached clients and stack outputs.

Targets are cached per process (a notebook or a load of requests reuses clients and outputs).
Outputs are forgotten when ops deploys or tears down, when the local target is (re)started or
stopped, and when the function turns out to be gone.
"""

from __future__ import annotations

import threading
from typing import Any

from ops import clients, stacks
from ops.errors import StackNotDeployedError
from ops.outputs import StackOutputs, read_outputs
from ops.settings import Settings


class Target:
    """Where ops works: the settings and the clients for them (created on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._outputs: StackOutputs | None = None
        self._model_bucket: str | None = None
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = clients.client(self.settings, service)
            return self._clients[service]

    @property
    def model_bucket(self) -> str:
        """The model bucket alone (its stack outlives the service stack)."""
        if self._model_bucket is None:
            cf = self.client("cloudformation")
            self._model_bucket = stacks.outputs(cf, self.settings.model_stack_name)[
                "ModelBucketName"
            ]
        return self._model_bucket

    @property
    def outputs(self) -> StackOutputs:
        if self._outputs is None:
            try:
                self._outputs = read_outputs(self.client("cloudformation"), self.settings)
            except StackNotDeployedError as err:
                if self.settings.target != "local":
                    raise
                raise StackNotDeployedError(
                    f"{err} (the local target keeps nothing across restarts: after it was "
                    "stopped or restarted, deploy and upload the model again)"
                ) from err
        return self._outputs

    def forget_outputs(self) -> None:
        self._outputs = None
        self._model_bucket = None

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


def target_for(settings: Settings | None = None, **overrides: Any) -> Target:
    resolved = Settings.resolve(settings, **overrides)
    with _targets_lock:
        target = _targets.get(_key(resolved))
        if target is None or target.settings != resolved:
            target = _targets[_key(resolved)] = Target(resolved)
        return target


def forget(local_port: int | None = None) -> None:
    """Forget cached outputs: all of them, or those of one local target's port."""
    with _targets_lock:
        for target in _targets.values():
            if local_port is None or target.settings.local_port == local_port:
                target.forget_outputs()
                target.forget_clients()
