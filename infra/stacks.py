"""The two stacks: the stateful model store, and the service that an ordinary teardown removes."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra import names
from infra.batch_bucket import BatchBucket
from infra.batch_pipeline import BatchPipeline
from infra.inference_function import InferenceFunction
from infra.model_store import ModelStore
from infra.monitoring import Monitoring
from infra.rollout_guard import RolloutGuard
from infra.settings import StackSettings
from reintento_function import contract


def _output(stack: cdk.Stack, key: str, value: str, description: str) -> None:
    cdk.CfnOutput(stack, key, value=value, description=description).override_logical_id(key)


class ModelStoreStack(cdk.Stack):
    """Stateful: the model bucket. Kept by an ordinary teardown."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.store = ModelStore(
            self,
            names.MODEL_STORE,
            stage_tag=contract.stage_tag(settings.stack_prefix, settings.stage),
        )
        _output(self, names.OUT_MODEL_BUCKET, self.store.bucket.bucket_name, "Model bucket")
        _output(self, names.OUT_SIGNING_KEY, self.store.signing_key.key_arn, "Model signing key")


class ServiceStack(cdk.Stack):
    """Stateless: function, batch pipeline and its bucket, monitoring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        model_store: ModelStore,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        model_bucket = model_store.bucket
        batch = BatchBucket(self, "BatchBucket", expiration_days=settings.batch_expiration_days)
        inference = InferenceFunction(
            self,
            names.INFERENCE_FUNCTION,
            settings=settings,
            model_bucket=model_bucket,
            signing_key=model_store.signing_key,
            batch_bucket=batch.bucket,
        )
        pipeline = BatchPipeline(
            self,
            names.BATCH_PIPELINE,
            settings=settings,
            function=inference.function,
            batch_bucket=batch.bucket,
        )
        RolloutGuard(self, names.ROLLOUT_GUARD, settings=settings, function=inference.function)
        monitoring = Monitoring(
            self,
            names.MONITORING,
            function=inference.function,
            state_machine=pipeline.state_machine,
            timeout_seconds=settings.timeout_seconds,
            alarm_email=settings.alarm_email,
            drift_alarm_percent=settings.drift_alarm_percent,
            latency_alarm_ms=settings.latency_alarm_ms,
        )
        outputs = {
            names.OUT_MODEL_KEY: (settings.model_key, "Key of the served model"),
            names.OUT_BATCH_BUCKET: (
                batch.bucket.bucket_name,
                "Batch input/output bucket",
            ),
            names.OUT_FUNCTION_NAME: (
                inference.function.function_name,
                "Inference function",
            ),
            names.OUT_FUNCTION_ARN: (
                inference.function.function_arn,
                "Inference function ARN",
            ),
            names.OUT_LIVE_ALIAS_ARN: (
                f"{inference.function.function_arn}:{contract.LIVE_ALIAS}",
                "What clients invoke: the live alias (lambda:InvokeFunction on this ARN)",
            ),
            names.OUT_FUNCTION_LOG_GROUP: (
                inference.log_group.log_group_name,
                "Function logs",
            ),
            names.OUT_STATE_MACHINE_ARN: (
                pipeline.state_machine.state_machine_arn,
                "Batch",
            ),
            names.OUT_STATE_MACHINE_LOG_GROUP: (
                pipeline.log_group.log_group_name,
                "Batch logs",
            ),
            names.OUT_DASHBOARD: (monitoring.dashboard.dashboard_name, "Dashboard"),
        }
        if monitoring.topic is not None:
            outputs[names.OUT_ALARM_TOPIC] = (monitoring.topic.topic_arn, "Alarm topic")
        for key, (value, description) in outputs.items():
            _output(self, key, value, description)
