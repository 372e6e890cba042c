"""The deployed stacks' outputs, read by their fixed keys (the same code for both targets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.aws import cloudformation
from ops.errors import StackNotDeployedError
from ops.settings import Settings


@dataclass(frozen=True)
class StackOutputs:
    """Names of what the stacks created (``infra/names.py`` keys)."""

    model_bucket: str
    model_key: str
    batch_bucket: str
    function_name: str
    function_arn: str
    function_log_group: str
    state_machine_arn: str
    state_machine_log_group: str
    dashboard: str
    alarm_topic: str | None = None
    signing_key: str = field(default="", repr=False)

    def named(self) -> tuple[tuple[str, str | None], ...]:
        """What the stacks created, under the names a person reads (results, status)."""
        return (
            ("function", self.function_name),
            ("state machine", self.state_machine_arn),
            ("model bucket", self.model_bucket),
            ("batch bucket", self.batch_bucket),
            ("dashboard", self.dashboard),
            ("alarm topic", self.alarm_topic),
        )

    def record(self) -> dict[str, str | None]:
        """The same names as record keys (``state_machine``, ``model_bucket``, ...)."""
        return {label.replace(" ", "_"): value for label, value in self.named()}


# field -> stack output key (infra/names.py OUT_*; tests/unit/test_contract.py holds them equal)
OUTPUT_KEYS = {
    "model_bucket": "ModelBucketName",
    "signing_key": "ModelSigningKeyArn",
    "model_key": "ModelKey",
    "batch_bucket": "BatchBucketName",
    "function_name": "FunctionName",
    "function_arn": "FunctionArn",
    "function_log_group": "FunctionLogGroupName",
    "state_machine_arn": "StateMachineArn",
    "state_machine_log_group": "StateMachineLogGroupName",
    "dashboard": "DashboardName",
}


ALARM_TOPIC_KEY = "AlarmTopicArn"


def read_outputs(cf: Any, settings: Settings) -> StackOutputs:
    model = cloudformation.outputs(cf, settings.model_stack_name)
    service = cloudformation.outputs(cf, settings.service_stack_name)
    try:
        from_model = {"model_bucket", "signing_key"}
        values = {
            field: (model if field in from_model else service)[key]
            for field, key in OUTPUT_KEYS.items()
        }
        return StackOutputs(alarm_topic=service.get(ALARM_TOPIC_KEY), **values)
    except KeyError as err:
        raise StackNotDeployedError(
            f"stack output {err} is missing: the deployed stacks are older than this code; "
            "run `python -m ops deploy`"
        ) from err
