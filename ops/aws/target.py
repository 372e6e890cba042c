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

import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import boto3

from ops.aws import assembly, clients, cloudformation, prechecks
from ops.aws.assembly import CloudAssembly
from ops.aws.console import console_links
from ops.aws.outputs import OUTPUT_KEYS, StackOutputs, read_outputs
from ops.display import Link
from ops.errors import DeployError, StackNotDeployedError
from ops.modelfiles.versions import PROJECT_ROOT
from ops.settings import Settings


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

    def places(self, outputs: StackOutputs | None) -> dict[str, Link]:
        """Where a person sees what the stacks created (console pages, or CLI commands), by
        role: "model stack", "service stack", "function", "logs", "executions", "dashboard",
        "alarms", "model"."""
        raise NotImplementedError

    def address(self) -> str | None:
        """The endpoint to show a person (None: AWS's own); never starts anything."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shared

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._outputs: StackOutputs | None = None
        self._model_bucket: str | None = None
        self._lock = threading.Lock()
        self._invocations: deque[tuple[float, str]] = deque(maxlen=10_000)

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = clients.make_client(
                    self.session(), service, self.endpoint()
                )
            return self._clients[service]

    @property
    def model_bucket(self) -> str:
        """The model bucket alone (its stack outlives the service stack)."""
        if self._model_bucket is None:
            cf = self.client("cloudformation")
            self._model_bucket = cloudformation.outputs(cf, self.settings.model_stack_name)[
                OUTPUT_KEYS["model_bucket"]
            ]
        return self._model_bucket

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

    def invocations_since(self, when: float) -> tuple[str, ...]:
        """Request ids of the invocations made here since ``when`` (epoch seconds)."""
        with self._lock:
            return tuple(request for at, request in self._invocations if at >= when)

    def forget_outputs(self) -> None:
        self._outputs = None
        self._model_bucket = None

    def forget_clients(self) -> None:
        """Drop the clients (the local target's key changes at every start)."""
        with self._lock:
            self._clients.clear()


class AwsTarget(Target):
    """A real account: boto3's credential chain, the pinned CDK CLI, Docker image builds."""

    kind = "aws"
    deploy_method = "CDK CLI (docker image build)"

    def session(self) -> boto3.Session:
        return clients.aws_session(self.settings.profile, self.settings.region)

    def endpoint(self) -> str | None:
        return None

    def running(self) -> bool:
        return True

    def account(self) -> str:
        return clients.account_of(self.client("sts"))

    def address(self) -> str | None:
        return None

    def places(self, outputs: StackOutputs | None) -> dict[str, Link]:
        s = self.settings
        return console_links(s.region, (s.model_stack_name, s.service_stack_name), outputs)

    def _check_bootstrap(self, account: str) -> None:
        prechecks.check_bootstrap(self.client("ssm"), account, self.settings.region)

    def synth(self, context: Mapping[str, str]) -> CloudAssembly:
        account = self.account()
        self._check_bootstrap(account)
        outdir = PROJECT_ROOT / "infra" / "cdk.out"
        return assembly.synth(dict(context), outdir, account, self.settings.region)

    def deploy_assembly(self, cloud: CloudAssembly) -> tuple[str, ...]:
        settings = self.settings
        prechecks.check_docker(settings.cdk_context.get("architecture", "x86_64"))
        cf = self.client("cloudformation")
        names = [stack.stack_name for stack in cloud.stacks]
        # a stack changed if it did not exist or its LastUpdatedTime moved (AWS sets that key
        # only on updates: a created, never-updated stack has none)
        before = {n: _last_change(cloudformation.describe(cf, n)) for n in names}
        env = dict(
            os.environ,
            AWS_REGION=settings.region,
            JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        )
        if settings.profile:
            env["AWS_PROFILE"] = settings.profile
        command = ["npx", "--no-install", "cdk", "deploy", "--app", str(cloud.outdir), "--all"]
        # ops asked already: deploy(approve_security_changes=...) or the CLI's question
        command += ["--require-approval", "never"]
        returncode, tail = _run_showing_progress(command, PROJECT_ROOT / "infra", env)
        if returncode != 0:
            raise DeployError(f"cdk deploy failed (exit {returncode}):\n{tail[-3000:]}")
        after = {n: _last_change(cloudformation.describe(cf, n)) for n in names}
        return tuple(n for n in names if before[n] is None or before[n] != after[n])


def _last_change(stack: Mapping[str, Any] | None) -> tuple[Any, Any] | None:
    """None for a stack that does not exist; else when it was created and last updated."""
    if stack is None:
        return None
    return stack.get("CreationTime"), stack.get("LastUpdatedTime")


def _run_showing_progress(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the CDK CLI with its progress shown as it builds and deploys (on stderr, each line
    prefixed `cdk:`); return its exit status and the last lines for an error message."""
    tail: deque[str] = deque(maxlen=80)
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            print(f"cdk: {line.rstrip()}", file=sys.stderr, flush=True)
    return process.returncode, "".join(tail)


def target_class(kind: str) -> type[Target]:
    """The class for a target kind: the one place where "local" and "aws" are told apart."""
    from ops.local.target import LocalTarget

    return {"aws": AwsTarget, "local": LocalTarget}[kind]


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


def target_for(settings: Settings | None = None) -> Target:
    """The (cached) target for resolved ``settings`` (environment and defaults if None)."""
    resolved = settings if settings is not None else Settings.resolve()
    with _targets_lock:
        target = _targets.get(_key(resolved))
        if target is None or target.settings != resolved:
            target = _targets[_key(resolved)] = target_class(resolved.target)(resolved)
        return target


def forget(local_port: int | None = None) -> None:
    """Forget cached outputs: all of them, or those of one local target's port."""
    with _targets_lock:
        for target in _targets.values():
            if local_port is None or target.settings.local_port == local_port:
                target.forget_outputs()
                target.forget_clients()
