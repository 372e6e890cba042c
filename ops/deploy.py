"""deploy: synthesize ``infra/`` and deploy both stacks, then return their outputs.

How the assembly is synthesized and deployed is the target's (``ops.targets``): the pinned
CDK CLI with a Docker image build on AWS, change sets after a local image build on the local
target. The security review and the outputs are the same code for both. A second deploy with no
change touches nothing and asks nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, overload

from ops.aws import cloudformation
from ops.aws.assembly import CloudAssembly
from ops.aws.faults import user_facing
from ops.aws.operator_policy import OperatorPolicy, unmatched
from ops.aws.outputs import StackOutputs
from ops.aws.security_changes import SecurityChange, security_changes
from ops.display import Card, Link, Plan, Shown
from ops.errors import ConfigurationError, OpsError, SecurityApprovalError
from ops.modelfiles.versions import PROJECT_ROOT
from ops.service import latency_alarm
from ops.service.latency_alarm import LatencyThreshold
from ops.service.rollout import restore_live
from ops.settings import Settings
from ops.targets import Target, target_for
from ops.targets.base import DeployShape

LATENCY_CONTEXT = "latency_alarm_ms"  # infra/settings.py's


@dataclass(frozen=True)
class DeployResult(Shown):
    """What was deployed where; ``changed`` lists the stacks that were created or updated;
    ``links`` say where to look (console pages, or locally AWS CLI commands)."""

    target: str
    stacks: tuple[str, ...]
    changed: tuple[str, ...]
    outputs: StackOutputs
    security_changes: tuple[SecurityChange, ...] = field(default=(), repr=False)
    links: tuple[Link, ...] = field(default=(), repr=False, compare=False)
    # what the redeploy could not do for the live model, and what to do (empty: nothing)
    note: str = field(default="", repr=False, compare=False)
    # the realtime latency alarm's threshold, and where it came from
    latency_alarm: LatencyThreshold | None = field(default=None, repr=False, compare=False)

    def card(self) -> Card:
        return Card(
            "Deploy",
            f"{len(self.changed)} of {len(self.stacks)} stacks created or updated"
            if self.changed
            else "nothing changed",
            ok=True,
            key=(
                ("target", self.target),
                ("stacks", self.stacks),
                ("changed", self.changed or "none"),
                ("security changes", len(self.security_changes)),
                (
                    "latency alarm",
                    f"p99 over {self.latency_alarm.ms:,g} ms ({self.latency_alarm.origin})"
                    if self.latency_alarm
                    else None,
                ),
            ),
            details=self.outputs.named(),
            links=self.links,
            notes=(self.note,) if self.note else (),
        )

    def record(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "stacks": self.stacks,
            "changed": self.changed,
            "security_changes": len(self.security_changes),
            "latency_alarm_ms": self.latency_alarm.ms if self.latency_alarm else None,
            **self.outputs.record(),
        }


def _plan(target: Target, context: Mapping[str, str], stacks: DeployShape) -> Plan:
    """What deploy would do, and the outcome of each read-only check it runs first."""
    settings = target.settings
    steps = (
        f"synthesize infra/ with context {dict(sorted(context.items()))}",
        "list the IAM and resource-policy changes; go on only if approved",
        f"deploy {settings.model_stack_name} then {settings.service_stack_name} "
        f"in {settings.region} with {target.deploy_method}",
        "wait for both stacks and read their outputs",
    )
    return Plan("deploy", settings.target, steps, checks=target.prechecks(stacks))


def check_context(context: Mapping[str, str]) -> DeployShape:
    """Refuse unknown or unusable CDK context before synth (whose errors come from deep in jsii),
    with the stacks' own settings parser (``infra/settings.py``, pure Python); what the
    prechecks need of it."""
    if str(PROJECT_ROOT) not in sys.path:  # infra/ is a folder of the project, not a package
        sys.path.append(str(PROJECT_ROOT))
    from infra.settings import StackSettings, settings_from_context

    known = {f.name for f in fields(StackSettings)}
    unknown = sorted(set(context) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown context {unknown}; the stacks take: {', '.join(sorted(known))}"
        )
    for key, value in context.items():
        try:
            settings_from_context({key: value})
        except (ValueError, TypeError) as err:
            raise ConfigurationError(
                f"context {key}={value!r} is not usable ({err}); see the README's list of "
                "context values and their ranges"
            ) from err
    try:
        stacks = settings_from_context(context)
    except (ValueError, TypeError) as err:  # values that do not go together
        raise ConfigurationError(
            f"the context {dict(sorted(context.items()))} is not usable ({err})"
        ) from err
    return DeployShape(
        architecture=stacks.architecture,
        reserved_concurrency=stacks.reserved_concurrency,
        max_concurrency=stacks.max_concurrency,
        timeout_seconds=stacks.timeout_seconds,
        latency_alarm_ms=stacks.latency_alarm_ms,
    )


def review_security(target: Target, cloud: CloudAssembly) -> tuple[SecurityChange, ...]:
    """What the deploy would change in IAM and resource policies, stack by stack."""
    cf = target.client("cloudformation")
    found: list[SecurityChange] = []
    for stack in cloud.stacks:
        deployed = None
        if cloudformation.describe(cf, stack.stack_name) is not None:
            body = cf.get_template(StackName=stack.stack_name)["TemplateBody"]
            deployed = body if isinstance(body, dict) else json.loads(body)
        found += security_changes(stack.stack_name, deployed, json.loads(stack.template_body))
    return tuple(found)


@overload
def deploy(
    *,
    context: Mapping[str, Any] | None = None,
    approve_security_changes: bool = False,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> DeployResult: ...


@overload
def deploy(
    *,
    context: Mapping[str, Any] | None = None,
    approve_security_changes: bool = False,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


@user_facing
def deploy(
    *,
    context: Mapping[str, Any] | None = None,
    approve_security_changes: bool = False,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> DeployResult | Plan:
    """Synthesize and deploy both stacks; idempotent. ``context`` adds CDK context values.

    A deploy that adds, removes or changes IAM or resource policies (a first deploy does) is
    refused with ``SecurityApprovalError`` listing them, unless ``approve_security_changes``;
    the CLI shows them and asks (or takes ``--yes``)."""
    target = target_for(settings)
    resolved = target.settings
    full_context = {**resolved.cdk_context, **{k: str(v) for k, v in (context or {}).items()}}
    stacks = check_context(full_context)
    names = (resolved.model_stack_name, resolved.service_stack_name)
    if dry_run:
        return _plan(target, full_context, stacks)
    latency = _latency_alarm(target, stacks)
    if latency.measured:
        full_context = {**full_context, LATENCY_CONTEXT: f"{latency.ms:g}"}
    cloud = target.synth(full_context)  # on AWS: the credentials and the bootstrap first
    target.check_account(stacks)
    changes = review_security(target, cloud)
    if changes and not approve_security_changes:
        raise SecurityApprovalError(changes)
    changed = target.deploy_assembly(cloud)
    target.forget_outputs()
    note = ""
    if resolved.service_stack_name in changed:
        note = restore_live(target)  # $LATEST was rewritten: the live model on the new code
    outputs = target.outputs
    return DeployResult(
        resolved.target,
        names,
        changed,
        outputs,
        changes,
        links=tuple(target.places(outputs).values()),
        note=note,
        latency_alarm=latency,
    )


def _latency_alarm(target: Target, stacks: DeployShape) -> LatencyThreshold:
    """The latency alarm's threshold: the context's, else derived from the stage's measured
    realtime latency (ops/service/latency_alarm.py)."""
    if stacks.latency_alarm_ms is not None:
        return LatencyThreshold(stacks.latency_alarm_ms, f"given: context {LATENCY_CONTEXT}", True)
    current = latency_alarm.deployed_threshold(target)
    return latency_alarm.derive(latency_alarm.measured(target), stacks.timeout_seconds, current)


@user_facing
def operator_policy(
    account: str | None = None, *, settings: Settings | None = None
) -> dict[str, Any]:
    """The least-privilege IAM policy (a JSON document) a person needs to run every verb on the
    settings' stage and region: deploy through the CDK bootstrap roles, upload (``kms:Sign``),
    rollout, batch, observe and teardown. ``account`` defaults to the credentials' own
    (STS GetCallerIdentity, which needs no permission); then, if the stage is deployed, a policy
    whose name patterns would not reach its resources is refused (``ConfigurationError``)."""
    target = target_for(settings)
    resolved = target.settings
    asked_account = account is None
    if account is None:
        account = str(target.client("sts").get_caller_identity()["Account"])
    elif not (account.isdigit() and len(account) == 12):
        raise ConfigurationError(f"--account={account[:20]!r} must be a 12-digit AWS account id")
    policy = OperatorPolicy(account, resolved.region, resolved.stack_prefix, resolved.stage)
    if asked_account:  # the credentials work: check the policy against what they deployed
        _check_deployed_names(target, policy)
    return policy.document()


def _check_deployed_names(target: Target, policy: OperatorPolicy) -> None:
    """Refuse a policy that would not reach what is deployed (nothing deployed, or stacks these
    credentials may not read: nothing to check)."""
    try:
        outputs = target.outputs
    except OpsError:
        return
    missed = unmatched(policy, outputs)
    if missed:
        raise ConfigurationError(
            f"this policy would not reach {'; '.join(missed)}: CloudFormation shortened a "
            "generated name. Deploy the stage under a shorter stage name (or stack prefix)"
        )
