"""Settings: explicit argument > environment variable > default, frozen once resolved."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from ops.display import Card, Shown
from ops.errors import ConfigurationError
from ops.inputs import validate
from ops.modelfiles.versions import PROJECT_ROOT
from reintento_function import contract

Target = Literal["local", "aws"]

# setting -> environment variable(s), first set wins
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "target": ("REINTENTO_TARGET",),
    "region": ("REINTENTO_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "profile": ("REINTENTO_PROFILE", "AWS_PROFILE"),
    "stage": ("REINTENTO_STAGE",),
    "stack_prefix": ("REINTENTO_STACK_PREFIX",),
    "model_key": ("REINTENTO_MODEL_KEY",),
    "local_port": ("REINTENTO_LOCAL_PORT",),
    "state_dir": ("REINTENTO_STATE_DIR",),
}


def _profile_region(profile: str | None) -> str | None:
    """The region an AWS profile configures (``~/.aws/config``; None: the default profile), if
    any."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        region = boto3.Session(profile_name=profile).region_name
    except ProfileNotFound:
        return None
    return str(region) if region else None


@dataclass(frozen=True)
class Settings(Shown):
    """Where and what to operate on."""

    target: Target = "local"
    region: str = "us-east-1"
    profile: str | None = None
    stage: str = "dev"
    stack_prefix: str = "Reintento"
    model_key: str = "models/mejor_modelo.pkl"
    local_port: int = field(default=4566, repr=False)
    state_dir: Path = field(default=PROJECT_ROOT / ".local-target", repr=False)
    context: Mapping[str, Any] = field(default_factory=dict)

    def card(self) -> Card:
        return Card(
            "Settings",
            f"{self.target} target, stage {self.stage}, {self.region}",
            key=(
                ("target", self.target),
                ("stage", self.stage),
                ("region", self.region),
                ("profile", self.profile or "(default credential chain)"),
            ),
            details=(
                ("stacks", (self.model_stack_name, self.service_stack_name)),
                ("model key", self.model_key),
                *((f"context {k}", str(v)) for k, v in sorted(self.context.items())),
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "stage": self.stage,
            "region": self.region,
            "profile": self.profile,
            "stacks": [self.model_stack_name, self.service_stack_name],
            "model_key": self.model_key,
            "context": dict(self.context),
        }

    @property
    def service_stack_name(self) -> str:
        return contract.stack_names(self.stack_prefix, self.stage)[1]

    @property
    def model_stack_name(self) -> str:
        return contract.stack_names(self.stack_prefix, self.stage)[0]

    @property
    def cdk_context(self) -> dict[str, str]:
        """What the CDK app reads (infra/app.py): stage, prefix, model key, plus extras."""
        return {
            "stage": self.stage,
            "stack_prefix": self.stack_prefix,
            "model_key": self.model_key,
            **{k: str(v) for k, v in self.context.items()},
        }

    @classmethod
    def resolve(cls, settings: Settings | None = None, **explicit: Any) -> Settings:
        """Build settings: ``explicit`` (non-None) > environment > ``settings`` or defaults."""
        base = settings or cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if explicit.get(f.name) is not None:
                values[f.name] = explicit[f.name]
            elif settings is None:
                for var in ENVIRONMENT.get(f.name, ()):
                    if os.environ.get(var):
                        values[f.name] = os.environ[var]
                        break
        try:
            if "local_port" in values:
                values["local_port"] = int(values["local_port"])
            if "state_dir" in values:
                values["state_dir"] = Path(values["state_dir"])
        except ValueError as err:
            raise ConfigurationError(f"REINTENTO_LOCAL_PORT must be a number: {err}") from err
        aws = values.get("target", base.target) == "aws"
        if "region" not in values and ("profile" in values or aws) and settings is None:
            # no region given: the profile's own (boto3's chain: the named profile, else the
            # [default] one, as the AWS CLI does), before the built-in default
            profile = values.get("profile")
            profile_region = _profile_region(str(profile) if profile is not None else None)
            if profile_region:
                values["region"] = profile_region
        resolved = replace(base, **values)
        if resolved.target not in ("local", "aws"):
            raise ConfigurationError(
                f"target must be 'local' or 'aws', got {resolved.target!r}; "
                "set REINTENTO_TARGET or pass `--target` (in Python `target=`)"
            )
        validate.name("stage", resolved.stage)
        validate.name("stack_prefix", resolved.stack_prefix)
        validate.region("region", resolved.region)
        validate.model_key("model_key", resolved.model_key)
        if resolved.profile is not None:
            validate.text("profile", resolved.profile)
        validate.integer("local_port", resolved.local_port, low=1024, high=65535)
        return resolved
