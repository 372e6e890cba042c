"""deploy: synthesize ``infra/`` and deploy both stacks, then return their outputs.

AWS: the pinned CDK CLI deploys the cloud assembly (it builds and pushes the image with Docker).
Local: the image is "built" locally (ops.local.images) and the same templates are deployed with
CloudFormation change sets. Outputs are read the same way for both. A second deploy with no
change touches nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ops import assembly, clients, stacks
from ops.assembly import CloudAssembly
from ops.errors import DeployError, SecurityApprovalError
from ops.local import assets
from ops.outputs import StackOutputs
from ops.plan import Plan
from ops.security_changes import SecurityChange, security_changes
from ops.settings import Settings
from ops.target import Target, target_for
from ops.versions import PROJECT_ROOT

BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


@dataclass(frozen=True)
class DeployResult:
    """What was deployed where; ``changed`` lists the stacks that were created or updated."""

    target: str
    stacks: tuple[str, ...]
    changed: tuple[str, ...]
    outputs: StackOutputs
    security_changes: tuple[SecurityChange, ...] = field(default=(), repr=False)


def _plan(settings: Settings, context: Mapping[str, str]) -> Plan:
    how = (
        "CDK CLI (docker image build)"
        if settings.target == "aws"
        else "CloudFormation change sets (local image build)"
    )
    steps = (
        f"synthesize infra/ with context {dict(sorted(context.items()))}",
        f"deploy {settings.model_stack_name} then {settings.service_stack_name} "
        f"in {settings.region} with {how}",
        "wait for both stacks and read their outputs",
    )
    return Plan("deploy", settings.target, steps)


def _synth(target: Target, context: Mapping[str, str]) -> CloudAssembly:
    """The cloud assembly for the target's account (locally: the local target's)."""
    settings = target.settings
    if settings.target == "aws":
        account = clients.check_credentials(settings)
        _check_bootstrap(target, account)
        return assembly.synth(
            dict(context), PROJECT_ROOT / "infra" / "cdk.out", account, settings.region
        )
    return assembly.synth(
        dict(context), settings.state_dir / "cdk.out", clients.LOCAL_ACCOUNT, settings.region
    )


def review_security(target: Target, cloud: CloudAssembly) -> tuple[SecurityChange, ...]:
    """What the deploy would change in IAM and resource policies, stack by stack."""
    cf = target.client("cloudformation")
    found: list[SecurityChange] = []
    for stack in cloud.stacks:
        deployed = None
        if stacks.describe(cf, stack.stack_name) is not None:
            body = cf.get_template(StackName=stack.stack_name)["TemplateBody"]
            deployed = body if isinstance(body, dict) else json.loads(body)
        found += security_changes(stack.stack_name, deployed, json.loads(stack.template_body))
    return tuple(found)


def _deploy_local(target: Target, cloud: CloudAssembly) -> tuple[str, ...]:
    settings = target.settings
    cf = target.client("cloudformation")
    changed: list[str] = []
    for stack in cloud.stacks:
        if stack.assets_file is not None:
            assets.publish(
                stack.assets_file,
                s3=target.client("s3"),
                ecr=target.client("ecr"),
                account=clients.LOCAL_ACCOUNT,
                region=settings.region,
                images_dir=settings.state_dir / "images",
            )
        if stacks.deploy_template(cf, stack.stack_name, stack.template_body):
            changed.append(stack.stack_name)
    return tuple(changed)


def _check_bootstrap(target: Target, account: str) -> None:
    try:
        target.client("ssm").get_parameter(Name=BOOTSTRAP_PARAMETER)
    except ClientError as err:
        raise DeployError(
            f"account {account} region {target.settings.region} is not CDK-bootstrapped; run "
            f"`npx cdk bootstrap aws://{account}/{target.settings.region}` once, then deploy again"
        ) from err


def _deploy_aws(target: Target, cloud: CloudAssembly) -> tuple[str, ...]:
    settings = target.settings
    if shutil.which("docker") is None:
        raise DeployError("deploying to AWS builds the function image with Docker; install Docker")
    cf = target.client("cloudformation")
    before = {
        name: (stacks.describe(cf, name) or {}).get("LastUpdatedTime")
        for name in (settings.model_stack_name, settings.service_stack_name)
    }
    outdir = cloud.outdir
    env = dict(
        os.environ, AWS_REGION=settings.region, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20"
    )
    if settings.profile:
        env["AWS_PROFILE"] = settings.profile
    done = subprocess.run(
        [
            "npx",
            "--no-install",
            "cdk",
            "deploy",
            "--app",
            str(outdir),
            "--all",
            "--require-approval",
            "never",  # ops asked already: deploy(approve_security_changes=...) or the CLI
        ],
        cwd=PROJECT_ROOT / "infra",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DeployError(f"cdk deploy failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    after = {name: (stacks.describe(cf, name) or {}).get("LastUpdatedTime") for name in before}
    return tuple(name for name in before if before[name] != after[name] or before[name] is None)


def deploy(
    settings: Settings | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    approve_security_changes: bool = False,
    dry_run: bool = False,
    **overrides: Any,
) -> DeployResult | Plan:
    """Synthesize and deploy both stacks; idempotent. ``context`` adds CDK context values.

    A deploy that adds, removes or changes IAM or resource policies (a first deploy does) is
    refused with ``SecurityApprovalError`` listing them, unless ``approve_security_changes``;
    the CLI shows them and asks (or takes ``--yes``)."""
    target = target_for(settings, **overrides)
    resolved = target.settings
    full_context = {**resolved.cdk_context, **{k: str(v) for k, v in (context or {}).items()}}
    names = (resolved.model_stack_name, resolved.service_stack_name)
    if dry_run:
        return _plan(resolved, full_context)
    cloud = _synth(target, full_context)
    changes = review_security(target, cloud)
    if changes and not approve_security_changes:
        raise SecurityApprovalError(changes)
    if resolved.target == "aws":
        changed = _deploy_aws(target, cloud)
    else:
        changed = _deploy_local(target, cloud)
    target.forget_outputs()
    return DeployResult(resolved.target, names, changed, target.outputs, changes)
