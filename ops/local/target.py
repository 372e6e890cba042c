"""The local target as a ``Target``: its endpoint and per-start key, change-set deploys."""

from __future__ import annotations

from collections.abc import Mapping

import boto3

from ops.aws import assembly, cloudformation
from ops.aws.assembly import CloudAssembly
from ops.aws.outputs import StackOutputs
from ops.aws.target import Target
from ops.display import Link
from ops.errors import LocalTargetError, StackNotDeployedError
from ops.local import assets, process
from ops.local.cli_hints import cli_links
from ops.local.credentials import read_credentials

LOCAL_ACCOUNT = "123456789012"


class LocalTarget(Target):
    """127.0.0.1: started on first use; the same templates deployed with change sets after a
    local image build (``ops.local.assets``)."""

    kind = "local"
    deploy_method = "CloudFormation change sets (local image build)"
    teardown_in_notebooks = True

    def endpoint(self) -> str:
        """Start the local target if needed; return its endpoint."""
        return process.ensure_running(self.settings.local_port, self.settings.state_dir).endpoint

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
        return process.status(self.settings.local_port, self.settings.state_dir).running

    def address(self) -> str:
        return process.LocalTargetStatus(
            False, self.settings.local_port, self.settings.state_dir
        ).endpoint

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
                assets.publish(
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
