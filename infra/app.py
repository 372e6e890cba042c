"""CDK app entry point: the only place that reads context and environment.

    make synth                           # the pinned CDK CLI on the pinned Node 22
    make cdk ARGS="synth -c stage=prod -c memory_mb=2048 -c architecture=arm64"

The synthesizer has no bootstrap-version rule so the same cloud assembly deploys to AWS and to
the local target.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.settings import StackSettings, settings_from_context
from infra.stacks import ModelStoreStack, ServiceStack

# CDK feature flags the stacks rely on: the Distributed Map's ResultWriterV2 renders only with
# its flag on (without it, the map's results would come back into the state)
FEATURE_FLAGS = {
    "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2": True,
    # the log delivery service writes server access logs by bucket policy, not by ACL (the
    # buckets here disable ACLs: BucketOwnerEnforced)
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def build_app(settings: StackSettings, app: cdk.App | None = None) -> cdk.App:
    """Compose both stacks into an app (used by tests and by the CLI entry point)."""
    app = app or cdk.App()
    for flag, value in FEATURE_FLAGS.items():  # in the app itself: the same for every synth
        app.node.set_context(flag, value)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    )
    synthesizer = cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False)
    model_stack = ModelStoreStack(
        app,
        settings.model_stack_name,
        settings=settings,
        env=env,
        synthesizer=synthesizer,
        description="Reintento model store (stateful, kept by teardown)",
    )
    service = ServiceStack(
        app,
        settings.service_stack_name,
        settings=settings,
        model_store=model_stack.store,
        env=env,
        synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
        description="Reintento inference service: function, batch pipeline, monitoring",
    )
    service.add_stack_dependency(model_stack)
    for stack in (model_stack, service):
        cdk.Tags.of(stack).add("project", "reintento")
        cdk.Tags.of(stack).add("stage", settings.stage)
    return app


def main() -> None:
    app = cdk.App()
    keys = StackSettings.__dataclass_fields__
    context = {k: app.node.try_get_context(k) for k in keys}
    build_app(settings_from_context(context), app)
    if app.node.try_get_context("nag") in ("1", "true", True):
        from infra.nag import add_nag_checks

        add_nag_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
