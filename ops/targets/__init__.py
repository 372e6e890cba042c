"""Where ops works: the one place that differs between AWS and the local target.

A ``Target`` owns what the two targets do differently — the endpoint and credentials of its
clients, whether it is reachable without starting anything, how the cloud assembly is
synthesized and deployed (CDK CLI with a Docker build on AWS; change sets and a local image
build on the local target), and what to say when nothing is deployed. Every verb asks its
target; none tests ``settings.target`` itself. ``target_for`` picks the class.

Targets are cached per process (a notebook or a load of requests reuses clients and outputs).
Outputs are forgotten when ops deploys or tears down, when the local target is (re)started or
stopped, and when the function turns out to be gone.
"""

from __future__ import annotations

from ops.settings import Settings
from ops.targets.aws import AwsTarget
from ops.targets.base import Target, cached, forget
from ops.targets.local import LocalTarget

__all__ = ["AwsTarget", "LocalTarget", "Target", "forget", "target_class", "target_for"]


def target_class(kind: str) -> type[Target]:
    """The class for a target kind: the one place where "local" and "aws" are told apart."""
    return {"aws": AwsTarget, "local": LocalTarget}[kind]


def target_for(settings: Settings | None = None) -> Target:
    """The (cached) target for resolved ``settings`` (environment and defaults if None)."""
    resolved = settings if settings is not None else Settings.resolve()
    return cached(resolved, target_class(resolved.target))
