"""The local target as a ``Target`` (its endpoint and per-start key, change-set deploys) and the
verbs that start, stop and inspect it: ops's adapter to the ``reintento_local`` package, which
never imports ops. Its errors become ops's in ``ops.aws.faults.user_facing``.

The local target has no console; the AWS CLI reaches it with ``--endpoint-url`` and the key of
its current start (the ``export`` lines of ``python -m ops local status``; never shown in
``places``, since those lines end up in notebooks).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import boto3

import reintento_local
from ops.aws import assembly, cloudformation
from ops.aws.assembly import CloudAssembly
from ops.aws.faults import user_facing
from ops.aws.outputs import StackOutputs
from ops.display import Link
from ops.errors import LocalTargetError, StackNotDeployedError
from ops.settings import Settings
from ops.targets.base import Target, forget
from reintento_local import LocalTargetStatus, read_credentials

LOCAL_ACCOUNT = "123456789012"


class LocalTarget(Target):
    """127.0.0.1: started on first use; the same templates deployed with change sets after a
    local image build (``reintento_local.assets``)."""

    kind = "local"
    deploy_method = "CloudFormation change sets (local image build)"
    teardown_in_notebooks = True

    def endpoint(self) -> str:
        """Start the local target if needed; return its endpoint."""
        running = reintento_local.ensure_running(self.settings.local_port, self.settings.state_dir)
        if running.sandbox is not None and not running.sandboxed:
            warnings.warn(  # once per place in the caller's code, as Python shows warnings
                f"the local target's functions are not sandboxed ({running.sandbox}): a "
                "function's code can read what you can; see SECURITY.md",
                UserWarning,
                stacklevel=2,
            )
        return running.endpoint

    def session(self) -> boto3.Session:
        self.endpoint()
        credentials = read_credentials(self.settings.state_dir)
        if credentials is None:
            raise LocalTargetError(
                f"the local target's credentials are missing from {self.settings.state_dir}; "
                "restart it with `python -m ops local stop` and `python -m ops local start`"
            )
        return boto3.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            region_name=self.settings.region,
        )

    def running(self) -> bool:
        return reintento_local.status(self.settings.local_port, self.settings.state_dir).running

    def address(self) -> str:
        return reintento_local.LocalTargetStatus(
            False, self.settings.local_port, self.settings.state_dir
        ).endpoint

    def metrics_delay_seconds(self) -> float:
        """The local target's own delay (``reintento_local.aws_metrics``), and a second."""
        return reintento_local.metrics_delay(self.settings.state_dir) + 1.0

    def places(self, outputs: StackOutputs | None) -> dict[str, Link]:
        s = self.settings
        return cli_links(self.address(), (s.model_stack_name, s.service_stack_name), outputs)

    def not_deployed(self, err: StackNotDeployedError) -> StackNotDeployedError:
        return StackNotDeployedError(
            f"{err} (the local target keeps nothing across restarts: after it was stopped or "
            "restarted, deploy and upload the model again)"
        )

    def synth(self, context: Mapping[str, str]) -> CloudAssembly:
        outdir = self.settings.state_dir / "cdk.out"
        return assembly.synth(dict(context), outdir, LOCAL_ACCOUNT, self.settings.region)

    def deploy_assembly(self, cloud: CloudAssembly) -> tuple[str, ...]:
        cf = self.client("cloudformation")
        changed: list[str] = []
        for stack in cloud.stacks:
            if stack.assets_file is not None:
                reintento_local.publish(
                    stack.assets_file,
                    s3=self.client("s3"),
                    ecr=self.client("ecr"),
                    account=LOCAL_ACCOUNT,
                    region=self.settings.region,
                    images_dir=self.settings.state_dir / "images",
                )
            if cloudformation.deploy_template(cf, stack.stack_name, stack.template_body):
                changed.append(stack.stack_name)
        return tuple(changed)


@user_facing
def start_local(*, settings: Settings | None = None) -> LocalTargetStatus:
    """Start the local target if it is not running (idempotent)."""
    s = settings or Settings.resolve()
    status = reintento_local.ensure_running(s.local_port, s.state_dir)
    forget(s.local_port)
    return status


@user_facing
def stop_local(*, settings: Settings | None = None) -> LocalTargetStatus:
    """Stop it; everything deployed to it is gone (it keeps no state across restarts)."""
    s = settings or Settings.resolve()
    forget(s.local_port)
    return reintento_local.stop(s.local_port, s.state_dir)


@user_facing
def local_status(*, settings: Settings | None = None) -> LocalTargetStatus:
    """Whether the local target runs, its endpoint, pid and log (never starts it)."""
    s = settings or Settings.resolve()
    return reintento_local.status(s.local_port, s.state_dir)


def cli_links(
    endpoint: str, stacks: tuple[str, str], outputs: StackOutputs | None
) -> dict[str, Link]:
    """AWS CLI commands by role, the same roles as ``ops.aws.console.console_links``."""
    aws = f"aws --endpoint-url {endpoint}"
    links = {
        f"{kind} stack": Link(
            f"{name}", command=f"{aws} cloudformation describe-stacks --stack-name {name}"
        )
        for kind, name in zip(("model", "service"), stacks, strict=True)
    }
    if outputs is None:
        return links
    links |= {
        "function": Link(
            "function", command=f"{aws} lambda get-function --function-name {outputs.function_name}"
        ),
        "logs": Link(
            "function logs", command=f"{aws} logs tail {outputs.function_log_group} --since 1h"
        ),
        "executions": Link(
            "batch executions",
            command=f"{aws} stepfunctions list-executions "
            f"--state-machine-arn {outputs.state_machine_arn}",
        ),
        "dashboard": Link(
            "dashboard",
            command=f"{aws} cloudwatch get-dashboard --dashboard-name {outputs.dashboard}",
        ),
        "alarms": Link(
            "alarms",
            command=f"{aws} cloudwatch describe-alarms --alarm-name-prefix {stacks[1]}",
        ),
        "model": Link(
            "model object",
            command=f"{aws} s3api head-object --bucket {outputs.model_bucket} "
            f"--key {outputs.model_key}",
        ),
    }
    return links
