"""A real AWS account as a ``Target``: boto3's credential chain, the pinned CDK CLI, Docker image
builds."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3

from ops.aws import assembly, clients, cloudformation, node, prechecks
from ops.aws.assembly import CloudAssembly
from ops.aws.console import console_links
from ops.aws.faults import translate
from ops.aws.outputs import StackOutputs
from ops.display import Link
from ops.errors import DeployError, OpsError
from ops.modelfiles.versions import PROJECT_ROOT
from ops.settings import Settings
from ops.targets.base import DeployShape, Target

METRICS_DELAY_SECONDS = 180.0


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

    def metrics_delay_seconds(self) -> float:
        """Three minutes: "Lambda sends metric data to CloudWatch in 1-minute intervals"
        (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html), so a call's
        datapoint may wait up to a minute to be sent, and CloudWatch takes a while more to make
        it queryable; AWS states no bound, so this is a margin, not a guarantee."""
        return METRICS_DELAY_SECONDS

    def places(self, outputs: StackOutputs | None) -> dict[str, Link]:
        s = self.settings
        return console_links(s.region, (s.model_stack_name, s.service_stack_name), outputs)

    def prechecks(self, stacks: DeployShape) -> tuple[tuple[str, str], ...]:
        """Credentials, the CDK bootstrap, Docker and the account's Lambda concurrency, each
        run read-only and reported (a dry run says all that a deploy would refuse on)."""
        account = _outcome(lambda: f"ok: account {self.account()}")
        needs = "not checked: needs working credentials"
        working = account.startswith("ok")

        def bootstrap() -> str:
            ssm, region = self.client("ssm"), self.settings.region
            return f"ok: version {prechecks.check_bootstrap(ssm, self.account(), region)}"

        def docker() -> str:
            prechecks.check_docker(stacks.architecture)
            return f"ok: the daemon answers and builds {stacks.architecture}"

        def concurrency() -> str:
            lam = self.client("lambda")
            reserved, width = stacks.reserved_concurrency, stacks.max_concurrency
            return "ok: " + prechecks.check_concurrency(lam, reserved, width)

        return (
            ("Node.js for the CDK", _outcome(lambda: "ok: " + node.check_node())),
            ("credentials", account),
            ("CDK bootstrap", _outcome(bootstrap) if working else needs),
            ("Docker", _outcome(docker)),
            ("account concurrency", _outcome(concurrency) if working else needs),
        )

    def check_account(self, stacks: DeployShape) -> None:
        prechecks.check_concurrency(
            self.client("lambda"), stacks.reserved_concurrency, stacks.max_concurrency
        )

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
        env = cdk_environment(settings)
        command = ["npx", "--no-install", "cdk", "deploy", "--app", str(cloud.outdir), "--all"]
        # ops asked already: deploy(approve_security_changes=...) or the CLI's question
        command += ["--require-approval", "never"]
        returncode, tail = _run_showing_progress(command, PROJECT_ROOT / "infra", env)
        if returncode != 0:
            raise DeployError(f"cdk deploy failed (exit {returncode}):\n{tail[-3000:]}")
        after = {n: _last_change(cloudformation.describe(cf, n)) for n in names}
        return tuple(n for n in names if before[n] is None or before[n] != after[n])


def _outcome(check: Callable[[], str]) -> str:
    """A check's outcome as a line: its own, or "FAILED: " and the error that says what to do."""
    try:
        return check()
    except Exception as err:  # every failure is reported: none escapes a dry run
        known = err if isinstance(err, OpsError) else translate(err)
        return f"FAILED: {known if known is not None else err}"


def cdk_environment(settings: Settings) -> dict[str, str]:
    """The CDK CLI's environment: the region and profile, and one image per build. BuildKit adds
    a provenance attestation by default, which under Docker's containerd image store makes the
    pushed tag an image index that Lambda refuses ("image manifest ... media type ... not
    supported"); AWS's guide builds with `--provenance=false`
    (https://docs.aws.amazon.com/lambda/latest/dg/python-image.html), which
    BUILDX_NO_DEFAULT_ATTESTATIONS=1 does for every build the CLI runs."""
    env = node.environment()  # Node 22 from the project's pins (ops/aws/node.py)
    env.update(AWS_REGION=settings.region, BUILDX_NO_DEFAULT_ATTESTATIONS="1")
    if settings.profile:
        env["AWS_PROFILE"] = settings.profile
    return env


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
