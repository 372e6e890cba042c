"""One operating context: settings, cached clients, the stacks' outputs."""

from __future__ import annotations

from functools import cached_property
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

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = clients.client(self.settings, service)
        return self._clients[service]

    @cached_property
    def model_bucket(self) -> str:
        """The model bucket alone (its stack outlives the service stack)."""
        model = stacks.outputs(self.client("cloudformation"), self.settings.model_stack_name)
        return model["ModelBucketName"]

    @cached_property
    def outputs(self) -> StackOutputs:
        try:
            return read_outputs(self.client("cloudformation"), self.settings)
        except StackNotDeployedError as err:
            if self.settings.target != "local":
                raise
            raise StackNotDeployedError(
                f"{err} (the local target keeps nothing across restarts: after it was stopped "
                "or restarted, deploy and upload the model again)"
            ) from err


def target_for(settings: Settings | None = None, **overrides: Any) -> Target:
    return Target(Settings.resolve(settings, **overrides))
