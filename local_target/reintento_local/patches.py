# mypy: disable-error-code="override, arg-type, assignment, attr-defined, unused-ignore"
# (this module monkeypatches moto internals; their signatures are matched at run time, by tests)
"""Our fidelity fixes to moto: a short, named list, each tested (tests/integration/test_patches.py).

They touch moto internals, so moto is pinned exactly and ``check_moto_version`` refuses any other
version (the canary test fails loudly when the pin moves underneath them). Apply before the
first CloudFormation call: moto caches its resource-type map.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import moto

from reintento_local import (
    alias_routing,
    aws_metrics,
    change_sets,
    cloudwatch_alarms,
    distributed_map,
    function_states,
    iam_enforcement,
    lambda_runtime,
    logs_ingestion,
    stack_deletes,
    stepfunctions_limits,
)
from reintento_local.errors import LocalTargetError
from reintento_local.iam_conditions import wildcard_match

PINNED_MOTO = "5.2.5"


@dataclass(frozen=True)
class Patch:
    """One fix: a stable name, what real AWS does that stock moto does not, and how to apply."""

    name: str
    fixes: str
    apply: Callable[[], None]


def check_moto_version() -> None:
    if moto.__version__ != PINNED_MOTO:
        raise LocalTargetError(
            f"the local target's fixes are written for moto {PINNED_MOTO}, but moto "
            f"{moto.__version__} is installed; run `make setup` to restore the pinned version"
        )


def _s3_backend(account_id: str, region_name: str) -> Any:
    from moto.s3 import models as s3m

    return s3m.s3_backends[account_id][s3m.get_partition(region_name)]


def _register(model: Any) -> None:
    """Make CloudFormation see a new model class (moto caches the subclass list)."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    assert parsing.get_model_map()[model.cloudformation_type()] is model


# --------------------------------------------------------------------------- S3


def _bucket_properties() -> None:
    from moto.s3 import models as s3m

    original = s3m.FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: Any, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
    ) -> Any:
        bucket = original(cls, resource_name, cfn, account_id, region_name, **kw)
        props = cfn.get("Properties", {})
        backend = _s3_backend(account_id, region_name)
        status = props.get("VersioningConfiguration", {}).get("Status")
        if status:
            backend.put_bucket_versioning(bucket.name, status)
        block = props.get("PublicAccessBlockConfiguration")
        if block:
            backend.put_public_access_block(
                bucket.name, {k: str(v).lower() == "true" for k, v in block.items()}
            )
        return bucket

    setattr(s3m.FakeBucket, "create_from_cloudformation_json", classmethod(create))  # noqa: B010


def _bucket_policy_resource() -> None:
    from moto.core.common_models import CloudFormationModel

    class BucketPolicy(CloudFormationModel):  # type: ignore[misc]
        def __init__(self, bucket: str, account_id: str, region_name: str) -> None:
            self.bucket, self.account_id, self.region_name = bucket, account_id, region_name

        @property
        def physical_resource_id(self) -> str:
            return f"{self.bucket}-policy"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::S3::BucketPolicy"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
        ) -> BucketPolicy:
            props = cfn["Properties"]
            document = json.dumps(props["PolicyDocument"]).encode()
            _s3_backend(account_id, region_name).put_bucket_policy(props["Bucket"], document)
            return cls(props["Bucket"], account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(
            cls, original: Any, new_name: str, cfn: Any, account_id: str, region_name: str
        ) -> BucketPolicy:
            return cls.create_from_cloudformation_json(new_name, cfn, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cfn: Any, account_id: str, region_name: str
        ) -> None:
            bucket = cfn.get("Properties", {}).get("Bucket")
            if bucket:
                try:
                    _s3_backend(account_id, region_name).delete_bucket_policy(bucket)
                except Exception:  # the bucket may already be gone
                    return

        def delete(self, account_id: str, region_name: str) -> None:
            try:
                _s3_backend(account_id, region_name).delete_bucket_policy(self.bucket)
            except Exception:
                return

        def is_created(self) -> bool:
            return True

    _register(BucketPolicy)


# --------------------------------------------------------------------------- Lambda

_LAMBDA_EXTRA = (
    "PackageType",
    "ImageConfig",
    "LoggingConfig",
    "Architectures",
    "EphemeralStorage",
    "TracingConfig",
)


def _lambda_properties() -> None:
    from moto.awslambda import models as lm

    captured = threading.local()
    original_init = lm.LambdaFunction.__init__
    original_backend_create = lm.LambdaBackend.create_function
    original_cfn = lm.LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    original_config = lm.LambdaFunction.get_configuration

    def init(
        self: Any, account_id: str, spec: dict[str, Any], region: str, version: Any = 1
    ) -> None:
        original_init(self, account_id, spec, region, version)
        self.logging_config = spec.get("LoggingConfig") or None
        if self.logging_config and self.logging_config.get("LogGroup"):
            self.logs_group_name = self.logging_config["LogGroup"]
        if "ImageUri" in (spec.get("Code") or {}):
            self.package_type = "Image"

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        extra = getattr(captured, "props", None)
        return original_backend_create(self, dict(spec, **extra) if extra else spec)

    def create(
        cls: Any, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
    ) -> Any:
        props = cfn["Properties"]
        captured.props = {k: props[k] for k in _LAMBDA_EXTRA if k in props}
        try:
            return original_cfn(cls, resource_name, cfn, account_id, region_name, **kw)
        finally:
            captured.props = None

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = original_config(self, *args, **kwargs)
        logging_config = getattr(self, "logging_config", None) or {}
        config["LoggingConfig"] = {
            "LogFormat": logging_config.get("LogFormat", "Text"),
            "LogGroup": logging_config.get("LogGroup", f"/aws/lambda/{self.function_name}"),
        }
        return config

    setattr(lm.LambdaFunction, "__init__", init)  # noqa: B010
    setattr(lm.LambdaBackend, "create_function", create_function)  # noqa: B010
    setattr(lm.LambdaFunction, "create_from_cloudformation_json", classmethod(create))  # noqa: B010
    setattr(lm.LambdaFunction, "get_configuration", get_configuration)  # noqa: B010


def _lambda_image_media_type() -> None:
    """CreateFunction and UpdateFunctionCode refuse an image whose manifest is an image index
    (a multi-platform list, or a build with BuildKit's default attestations), as Lambda does:
    "The image manifest, config or layer media type for the source image ... is not supported"
    (https://docs.aws.amazon.com/lambda/latest/dg/images-create.html: `--provenance=false`)."""
    from moto.awslambda import models as lm
    from moto.awslambda.exceptions import InvalidParameterValueException

    from reintento_local.images import INDEX_MEDIA_TYPES, registered_media_type

    original_create = lm.LambdaBackend.create_function
    original_update = lm.LambdaFunction.update_function_code  # the API's and CloudFormation's

    def refuse_an_index(backend: Any, image_uri: Any) -> None:
        if not isinstance(image_uri, str):
            return
        kind = registered_media_type(image_uri, backend.account_id, backend.region_name)
        if kind in INDEX_MEDIA_TYPES:
            raise InvalidParameterValueException(
                f"The image manifest, config or layer media type for the source image "
                f"{image_uri} is not supported."
            )

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        refuse_an_index(self, (spec.get("Code") or {}).get("ImageUri"))
        return original_create(self, spec)

    def update_function_code(self: Any, updated_spec: Any) -> Any:
        refuse_an_index(
            SimpleNamespace(account_id=self.account_id, region_name=self.region),
            (updated_spec or {}).get("ImageUri"),
        )
        return original_update(self, updated_spec)

    setattr(lm.LambdaBackend, "create_function", create_function)  # noqa: B010
    setattr(lm.LambdaFunction, "update_function_code", update_function_code)  # noqa: B010


# --------------------------------------------------------------------------- Step Functions


def _published_versions_keep_their_code() -> None:
    """A published version is an immutable snapshot of the function's code and configuration:
    updating ``$LATEST`` afterwards changes no published version. Lambda's "Function versions"
    page: "The function version includes ... the function code" and "you can't change a
    published version". moto copied the function shallowly at publish, so a later
    UpdateFunctionCode (a redeploy's new image) rewrote every version's ``ImageUri`` too."""
    import copy

    from moto.awslambda.models import LambdaStorage

    original = LambdaStorage.publish_version

    def publish_version(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = {id(v) for group in self._functions.values() for v in group["versions"]}
        published = original(self, *args, **kwargs)
        if published is not None and id(published) not in before:  # a new version: its own
            published.code = copy.deepcopy(published.code)
            published.environment_vars = copy.deepcopy(published.environment_vars)
        return published

    setattr(LambdaStorage, "publish_version", publish_version)  # noqa: B010


# Lambda's default concurrency quota per account and region, and the part it keeps unreserved
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html,
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)
ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED_CONCURRENCY = 100


def _lambda_account_settings() -> None:
    """GetAccountSettings (moto has no route: 404) answers the account's concurrency quota, what
    reservations leave unreserved, and its code storage; a reservation that would leave less
    than 100 unreserved is refused at CreateFunction and PutFunctionConcurrency, as on AWS
    ("decreases account's UnreservedConcurrentExecution below its minimum value of [100]").
    https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html"""
    from moto.awslambda import models as lm
    from moto.awslambda import urls
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.responses import LambdaResponse

    def reserved_elsewhere(backend: Any, name: str) -> int:
        return sum(
            int(fn.reserved_concurrency or 0)
            for fn in backend.list_functions()
            if fn.function_name != name
        )

    def refuse_beyond_quota(backend: Any, name: str, reserved: Any) -> None:
        if reserved in (None, ""):
            return
        left = ACCOUNT_CONCURRENCY - reserved_elsewhere(backend, name) - int(reserved)
        if left < MIN_UNRESERVED_CONCURRENCY:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of "
                f"[{MIN_UNRESERVED_CONCURRENCY}]."
            )

    def get_account_settings(self: Any) -> tuple[int, dict[str, str], str]:
        functions = self.backend.list_functions()
        reserved = sum(int(fn.reserved_concurrency or 0) for fn in functions)
        body = {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY - reserved,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(list(functions))},
        }
        return 200, {}, json.dumps(body)

    create = lm.LambdaBackend.create_function
    put = lm.LambdaBackend.put_function_concurrency

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        refuse_beyond_quota(
            self, str(spec.get("FunctionName")), spec.get("ReservedConcurrentExecutions")
        )
        return create(self, spec)

    def put_function_concurrency(self: Any, function_name: str, reserved: str) -> Any:
        refuse_beyond_quota(self, function_name.rsplit(":", 1)[-1], reserved)
        return put(self, function_name, reserved)

    setattr(LambdaResponse, "get_account_settings", get_account_settings)  # noqa: B010
    setattr(lm.LambdaBackend, "create_function", create_function)  # noqa: B010
    setattr(lm.LambdaBackend, "put_function_concurrency", put_function_concurrency)  # noqa: B010
    urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = LambdaResponse.dispatch


def _sts_trust_policies() -> None:
    """AssumeRole refuses a role that does not exist or whose trust policy does not let the
    caller in (an explicit deny wins), as STS does; moto issued credentials for any role ARN
    (``trust_policies``)."""
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.models import iam_backends
    from moto.sts.responses import TokenResponse

    from reintento_local import trust_policies
    from reintento_local.iam_enforcement import request_context

    original = TokenResponse.assume_role

    def assume_role(self: Any) -> Any:
        role_arn = str(self._get_param("RoleArn") or "")
        _, caller, account = self.backend.get_caller_identity(self.get_access_key(), self.region)
        denied = AccessDeniedError(caller, f"sts:AssumeRole on resource: {role_arn}")
        try:
            role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
        except Exception as err:  # NotFoundException: no such role
            raise denied from err
        external_id = str(self._get_param("ExternalId") or "")
        context = {**request_context(), **({"sts:ExternalId": external_id} if external_id else {})}
        if trust_policies.refusal(role.assume_role_policy_document, caller, account, context):
            raise denied
        return original(self)

    setattr(TokenResponse, "assume_role", assume_role)  # noqa: B010


def _published_versions_start_pending() -> None:
    """A new version is ``Pending`` while Lambda prepares it, and an invoke of it (or of an
    alias routed to it) fails with ``ResourceConflictException`` until it is ``Active``
    (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html); moto's versions were
    Active at once, so routing an alias before the version was ready went unnoticed."""
    from moto.awslambda.models import LambdaStorage

    original = LambdaStorage.publish_version

    def publish_version(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = {id(v) for group in self._functions.values() for v in group["versions"]}
        published = original(self, *args, **kwargs)
        if published is not None and id(published) not in before:
            function_states.mark_published(published)
        return published

    setattr(LambdaStorage, "publish_version", publish_version)  # noqa: B010


def _stepfunctions_executable() -> None:
    from moto.core.config import default_user_config
    from moto.stepfunctions import models as sfm
    from moto.stepfunctions.parser.models import (
        StepFunctionsParserBackend,
        stepfunctions_parser_backends,
    )

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    sfm.stepfunctions_backends = stepfunctions_parser_backends  # used by CFN create/delete

    def logging(config: Any) -> Any:
        if not config:
            return None
        return {
            "level": config.get("Level", "OFF"),
            "includeExecutionData": bool(config.get("IncludeExecutionData", False)),
            "destinations": [
                {
                    "cloudWatchLogsLogGroup": {
                        "logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]
                    }
                }
                for d in config.get("Destinations", [])
            ],
        }

    def create(
        cls: Any, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
    ) -> Any:
        props = cfn["Properties"]
        definition = props.get("DefinitionString") or json.dumps(props.get("Definition", {}))
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        tracing = props.get("TracingConfiguration")
        return stepfunctions_parser_backends[account_id][region_name].create_state_machine(
            props.get("StateMachineName", resource_name),
            definition,
            props.get("RoleArn", ""),
            tags=sfm.cfn_to_api_tags(props.get("Tags", [])),
            loggingConfiguration=logging(props.get("LoggingConfiguration")),
            tracingConfiguration={"enabled": bool(tracing.get("Enabled"))} if tracing else None,
            sm_type=props.get("StateMachineType", "STANDARD"),
        )

    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        return original_start(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    setattr(sfm.StateMachine, "create_from_cloudformation_json", classmethod(create))  # noqa: B010
    setattr(StepFunctionsParserBackend, "start_execution", start_execution)  # noqa: B010


# --------------------------------------------------------------------------- CloudWatch


def _metric_queries(metrics: Any) -> list[Any] | None:
    """A metric-math alarm's ``Metrics`` (CloudFormation) as moto's queries."""
    if not metrics:
        return None
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    queries = []
    periods = [m["MetricStat"]["Period"] for m in metrics if m.get("MetricStat")]
    default_period = str(periods[0]) if periods else "60"
    for m in metrics:
        stat = m.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
            metric_stat = MetricStat(
                Metric(metric["MetricName"], metric["Namespace"], dimensions),
                str(stat["Period"]),
                stat["Stat"],
                stat.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                m["Id"],
                m.get("Label", ""),
                str(m.get("Period") or default_period),
                str(m.get("ReturnData", "true")).lower(),
                m.get("Expression"),
                metric_stat,
            )
        )
    return queries


def _alarm_resource() -> None:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.common_models import CloudFormationModel

    class MetricAlarm(CloudFormationModel):  # type: ignore[misc]
        def __init__(self, alarm: Any, account_id: str, region_name: str) -> None:
            self.alarm, self.account_id, self.region_name = alarm, account_id, region_name

        @property
        def physical_resource_id(self) -> str:
            return str(self.alarm.name)

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            return self.alarm.alarm_arn

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
        ) -> MetricAlarm:
            p = cfn["Properties"]
            alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
                name=p.get("AlarmName", resource_name),
                namespace=p.get("Namespace"),
                metric_name=p.get("MetricName"),
                comparison_operator=p["ComparisonOperator"],
                evaluation_periods=int(p["EvaluationPeriods"]),
                period=int(p.get("Period", 60)),
                threshold=float(p.get("Threshold", 0)),
                statistic=p.get("Statistic"),
                extended_statistic=p.get("ExtendedStatistic"),
                description=p.get("AlarmDescription", ""),
                dimensions=p.get("Dimensions", []),
                alarm_actions=p.get("AlarmActions", []),
                ok_actions=p.get("OKActions", []),
                treat_missing_data=p.get("TreatMissingData"),
                metric_data_queries=_metric_queries(p.get("Metrics")),
                datapoints_to_alarm=p.get("DatapointsToAlarm"),
            )
            return cls(alarm, account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> MetricAlarm:
            """A changed alarm (a new threshold) is put again under its name: "When you update
            an existing alarm, its state is left unchanged, but the update completely
            overwrites the previous configuration of the alarm."
            https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
            (moto called this with keywords it did not take: the update failed with a 500)"""
            old = original_resource.alarm
            updated = cls.create_from_cloudformation_json(
                old.name, cloudformation_json, account_id, region_name
            )
            for kept in ("state_value", "state_reason", "state_reason_data", "history"):
                setattr(updated.alarm, kept, getattr(old, kept))
            updated.alarm.state_updated_timestamp = old.state_updated_timestamp
            return updated

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cfn: Any, account_id: str, region_name: str
        ) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

        def delete(self, account_id: str, region_name: str) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([self.alarm.name])

        def is_created(self) -> bool:
            return True

    _register(MetricAlarm)


def _topic_policy_resource() -> None:
    """``AWS::SNS::TopicPolicy``: the document replaces each listed topic's policy, as on AWS (so
    a topic policy that only denies leaves nothing allowed to publish; stock moto skips the type).
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sns-topicpolicy.html
    """
    from moto.core.common_models import CloudFormationModel
    from moto.sns.models import sns_backends

    class TopicPolicy(CloudFormationModel):
        def __init__(self, name: str, topics: list[str], account: str, region: str) -> None:
            self.name, self.topics, self.account, self.region = name, topics, account, region

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::TopicPolicy"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
        ) -> TopicPolicy:
            props = cfn["Properties"]
            topics = [str(t) for t in props.get("Topics", [])]
            backend = sns_backends[account_id][region_name]
            for arn in topics:
                backend.topics[arn].policy = json.dumps(props["PolicyDocument"])
            return cls(resource_name, topics, account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(
            cls, original: Any, new_name: str, cfn: Any, account_id: str, region_name: str
        ) -> TopicPolicy:
            return cls.create_from_cloudformation_json(new_name, cfn, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cfn: Any, account_id: str, region_name: str
        ) -> None:
            return None

        def delete(self, account_id: str, region_name: str) -> None:
            backend = sns_backends[account_id][region_name]
            for arn in self.topics:
                topic = backend.topics.get(arn)
                if topic is not None:  # back to the default policy, as AWS does
                    topic.policy = json.dumps(
                        topic._create_default_topic_policy(region_name, account_id, topic.name)
                    )

        def is_created(self) -> bool:
            return True

    _register(TopicPolicy)


# --------------------------------------------------------------------------- CloudFormation


def _changeset_stacks() -> None:
    from moto.cloudformation import models as cfm

    original = cfm.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> Any:
        for stack in self.stacks.values():  # a CREATE change set's stack cannot see exports
            stack.cross_stack_resources = self.exports
            stack.resource_map.cross_stack_resources = self.exports
        result = original(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack_name in (None, stack.name, stack.stack_id):
                stack._parse_template()
                stack.output_map = stack._create_output_map()
                self._validate_export_uniqueness(stack)
                for export in stack.exports:
                    self.exports[export.name] = export
        return result

    setattr(cfm.CloudFormationBackend, "execute_change_set", execute_change_set)  # noqa: B010


# --------------------------------------------------------------------------- service credentials

_service_credentials: list[tuple[str, str]] = []


def set_service_credentials(credentials: Any) -> None:
    """The key the server's own clients sign with (the per-start operator key)."""
    _service_credentials[:] = [(credentials.access_key_id, credentials.secret_access_key)]


_TASK_CLIENT_MODULES = (
    "state_map.result_writer.resource_eval.resource_eval_s3",
    "state_map.item_reader.eval.resource_eval_s3",
    "state_task.lambda_eval_utils",
    *(
        f"state_task.service.state_task_service_{service}"
        for service in (
            "unsupported",
            "glue",
            "events",
            "ecs",
            "sqs",
            "sfn",
            "dynamodb",
            "batch",
            "sns",
            "aws_sdk",
        )
    ),
)


def _stepfunctions_service_credentials() -> None:
    """Step Functions' task clients (Lambda Invoke, the Distributed Map's S3 ItemReader and
    ResultWriter, SDK integrations) signed with a hard-coded "ak"/"sk", which the gate refuses.
    They sign with the execution's role instead, a session of it the service assumed, as Step
    Functions does ("Step Functions assumes the role you specify for the state machine and uses
    it to make calls": https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html),
    so the role's policy is enforced: a task its role may not call fails with AccessDenied. A
    session is used until 15 minutes before it expires."""
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.utils import boto_client

    clients: dict[tuple[Any, ...], tuple[Any, float]] = {}
    lock = threading.Lock()
    config = Config(
        parameter_validation=False,
        retries={"max_attempts": 0, "total_max_attempts": 1},
        connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
    )

    def _keys(region: str, role_arn: str | None) -> tuple[dict[str, str], float]:
        if role_arn and role_arn.startswith("arn:"):
            account = role_arn.split(":")[4]
            made = iam_enforcement.service_role_credentials(
                account, region, role_arn, "states", duration=3600
            )
            env = made.env
            keys = {
                "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": env["AWS_SESSION_TOKEN"],
            }
            return keys, made.expires_at - 900
        key, secret = _service_credentials[0] if _service_credentials else ("ak", "sk")
        return {"aws_access_key_id": key, "aws_secret_access_key": secret}, float("inf")

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        cache_key = (region, service, role_arn)
        with lock:
            client, good_until = clients.get(cache_key, (None, 0.0))
            if client is None or time.time() >= good_until:
                keys, good_until = _keys(region, role_arn)
                client = boto3.client(
                    service,
                    region_name=region,
                    endpoint_url=f"http://localhost:{os.environ.get('MOTO_PORT', '5000')}",
                    config=config,
                    **keys,
                )
                clients[cache_key] = (client, good_until)
        return client

    setattr(boto_client, "boto_client_for", boto_client_for)  # noqa: B010
    for name in _TASK_CLIENT_MODULES:  # each imported the factory by name
        importlib.import_module(f"moto.stepfunctions.parser.asl.component.state.exec.{name}")
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for"):
            setattr(module, "boto_client_for", boto_client_for)  # noqa: B010


# --------------------------------------------------------------------------- IAM


def _iam_resource_wildcards() -> None:
    """Resource patterns match as IAM does: `*` any run of characters, `?` exactly one, every
    other character literally (stock moto turns the pattern into a regex: `?` breaks it, and
    `.` or `+` match what they should not).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    """
    from moto.iam import access_control

    setattr(access_control.IAMPolicyStatement, "_match", staticmethod(wildcard_match))  # noqa: B010


def _cloudformation_template_url() -> None:
    """A ``TemplateURL`` on the local endpoint (``http://127.0.0.1:PORT/bucket/key``, where the
    CDK CLI uploads templates when it runs against it) is read from that bucket and key, as an
    S3 path-style URL; moto read only ``localhost`` ones path-style, and took ``127`` for the
    bucket otherwise."""
    from urllib.parse import urlparse

    from moto.cloudformation import responses as cr

    original: Any = cr.get_stack_from_s3_url

    def get(template_url: str, account_id: str, partition: str) -> Any:
        parts = urlparse(template_url)
        if parts.hostname == "127.0.0.1":
            template_url = parts._replace(netloc=f"localhost:{parts.port}").geturl()
        return original(template_url, account_id=account_id, partition=partition)

    setattr(cr, "get_stack_from_s3_url", get)  # noqa: B010


def _iam_role_cfn_policies() -> None:
    """``AWS::IAM::Role`` keeps its policies as IAM does: ``Policies`` stored as JSON documents
    (moto stored objects, and its authorizer crashed on them with ``KeyError:
    'policy_document'``, an HTML 500, for every call signed with that role's credentials) and
    ``ManagedPolicyArns`` attached (moto ignored them, so a role relying on an AWS managed
    policy, like the CDK bootstrap's deploy role on AWSCloudFormationReadOnlyAccess, was denied).
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html
    """
    from moto.iam import models as im

    original: Any = im.Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: Any, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
    ) -> Any:
        props = cfn.get("Properties", {})
        policies = [
            {**p, "PolicyDocument": json.dumps(p["PolicyDocument"])}
            if not isinstance(p.get("PolicyDocument"), str)
            else p
            for p in props.get("Policies", [])
        ]
        cfn = {**cfn, "Properties": {**props, "Policies": policies}}
        role = original(cls, resource_name, cfn, account_id, region_name, **kw)
        backend = im.iam_backends[account_id][im.get_partition(region_name)]
        for arn in props.get("ManagedPolicyArns", []):
            backend.attach_role_policy(arn, role.name)
        return role

    setattr(im.Role, "create_from_cloudformation_json", classmethod(create))  # noqa: B010


# --------------------------------------------------------------------------- KMS


def _kms_key_properties() -> None:
    """AWS::KMS::Key keeps KeySpec and KeyUsage (stock moto makes every key symmetric).
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-kms-key.html
    """
    from moto.kms import models as km

    def create(
        cls: Any, resource_name: str, cfn: Any, account_id: str, region_name: str, **kw: Any
    ) -> Any:
        props = cfn["Properties"]
        key = km.kms_backends[account_id][region_name].create_key(
            policy=json.dumps(props["KeyPolicy"]),
            key_usage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            key_spec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=props.get("Description"),
            tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])],
        )
        key.key_rotation_status = props.get("EnableKeyRotation", False)
        key.enabled = props.get("Enabled", True)
        return key

    setattr(km.Key, "create_from_cloudformation_json", classmethod(create))  # noqa: B010


def _kms_invalid_signature() -> None:
    """Verify with a wrong signature raises KMSInvalidSignatureException, as AWS documents
    (stock moto answers SignatureValid=false).
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html
    """
    from moto.core.exceptions import JsonRESTError
    from moto.kms import models as km

    original = km.KmsBackend.verify

    def verify(self: Any, *args: Any, **kwargs: Any) -> Any:
        arn, valid, used = original(self, *args, **kwargs)
        if not valid:
            raise JsonRESTError(
                "KMSInvalidSignatureException",
                "The signature verification failed: the signature is not valid for this "
                "message and key",
            )
        return arn, valid, used

    setattr(km.KmsBackend, "verify", verify)  # noqa: B010


PATCHES: tuple[Patch, ...] = (
    Patch(
        "lambda-docker-less-runtime",
        "Invoke (and Step Functions' Lambda tasks) run the image's handler in warm awslambdaric "
        "environments, with Lambda's errors, limits and REPORT lines (no Docker)",
        lambda_runtime.install,
    ),
    Patch(
        "lambda-function-states",
        "a function can be Inactive or Pending: Invoke then fails as Lambda documents "
        "(ResourceNotReadyException, ResourceConflictException) and GetFunction says its State",
        lambda: function_states.install(lambda_runtime.configured_state_dir),
    ),
    Patch(
        "lambda-published-version-immutable",
        "a published version keeps the code it was published with (moto shared the code "
        "with $LATEST: a redeploy's UpdateFunctionCode changed every version's image)",
        _published_versions_keep_their_code,
    ),
    Patch(
        "lambda-published-version-pending",
        "a newly published version is Pending for a moment (Invoke of it, or of an alias routed "
        "to it, fails with ResourceConflictException; GetFunction says Pending); moto's were "
        "Active at once",
        _published_versions_start_pending,
    ),
    Patch(
        "lambda-account-settings",
        "GetAccountSettings answers the account's concurrency (1,000, and what reservations "
        "leave unreserved), and a reservation leaving less than 100 unreserved is refused; moto "
        "had no such route (404) and took any reservation",
        _lambda_account_settings,
    ),
    Patch(
        "sts-trust-policies",
        "AssumeRole refuses a role that does not exist or whose trust policy does not name the "
        "caller (an explicit deny wins); moto issued credentials for any role ARN",
        _sts_trust_policies,
    ),
    Patch(
        "lambda-image-index-refused",
        "CreateFunction and UpdateFunctionCode refuse an image whose manifest is an image index "
        "(BuildKit's default attestations make one; moto took any image)",
        _lambda_image_media_type,
    ),
    Patch(
        "lambda-invoke-qualifier",
        "Invoke runs the version or alias its Qualifier names (moto ran $LATEST whatever was "
        "asked)",
        alias_routing.install_qualifier,
    ),
    Patch(
        "lambda-alias-routing",
        "an invocation of a weighted alias runs its additional version with the weight's "
        "probability (moto always ran the primary); routings Lambda refuses are refused "
        "(over two versions, $LATEST, weights outside 0..1, different roles)",
        alias_routing.install,
    ),
    Patch(
        "lambda-alias-revision-id",
        "every change of an alias gives it a new RevisionId, and UpdateAlias with a stale one is "
        "refused (PreconditionFailedException, 412; moto kept one RevisionId and ignored it)",
        alias_routing.install_revision_ids,
    ),
    Patch(
        "iam-role-enforcement",
        "calls signed with role (temporary) credentials are authorized against the role's "
        "policies; Invoke checked as lambda:InvokeFunction on the function, KMS on the key",
        iam_enforcement.install,
    ),
    Patch(
        "s3-bucket-properties",
        "AWS::S3::Bucket keeps VersioningConfiguration and PublicAccessBlockConfiguration",
        _bucket_properties,
    ),
    Patch(
        "s3-bucket-policy-resource",
        "AWS::S3::BucketPolicy is created (stock moto skips the type)",
        _bucket_policy_resource,
    ),
    Patch(
        "lambda-cfn-properties",
        "AWS::Lambda::Function keeps PackageType=Image, ImageConfig, LoggingConfig (its log "
        "group), Architectures and TracingConfig",
        _lambda_properties,
    ),
    Patch(
        "stepfunctions-executable",
        "state machines created by CloudFormation run (executing backend), keep their logging "
        "and tracing configuration; StartExecution without a name gets a UUID",
        _stepfunctions_executable,
    ),
    Patch(
        "stepfunctions-payload-limits",
        "a Catch or Retry on States.ALL does not catch States.DataLimitExceeded or States.Runtime "
        "(terminal, as on AWS); StartExecution refuses input over 256 KB",
        stepfunctions_limits.install,
    ),
    Patch(
        "stepfunctions-history-limit",
        "an execution whose history reaches 25,000 events fails with States.Runtime, as on AWS "
        "(moto's history grew without bound)",
        stepfunctions_limits.install_history_limit,
    ),
    Patch(
        "stepfunctions-distributed-map",
        "Distributed Map definitions with ExecutionType EXPRESS and an integer "
        "ToleratedFailurePercentage are accepted, as AWS accepts them (moto's grammar refused "
        "both)",
        distributed_map.install,
    ),
    Patch(
        "stepfunctions-express-children-outlive-a-stop",
        "a stopped parent's Express Distributed Map children already running run to their end "
        "(Retry and Catch included) and no new child starts (moto stopped every child)",
        distributed_map.install_express_children,
    ),
    Patch(
        "stepfunctions-map-run-execution-counts",
        "DescribeMapRun's executionCounts.running drops when a child execution fails or is "
        "aborted, not only when it succeeds (moto's stayed running for ever)",
        distributed_map.install_execution_counts,
    ),
    Patch(
        "stepfunctions-map-run-start-permission",
        "a Distributed Map's Map Run fails (States.Runtime, AccessDenied) when the state "
        "machine's role may not states:StartExecution its own state machine, as on AWS (moto "
        "started the child executions without asking)",
        distributed_map.install_child_start_permission,
    ),
    Patch(
        "cloudformation-delete-failed",
        "a stack whose bucket still holds objects is not deleted: the bucket is kept and the "
        "stack is DELETE_FAILED, still listed, and DeleteStack retries it (moto skipped the "
        "bucket and reported DELETE_COMPLETE)",
        stack_deletes.install,
    ),
    Patch(
        "cloudwatch-alarm-resource",
        "AWS::CloudWatch::Alarm is created (stock moto skips the type), with its Arn and its "
        "metric-math queries",
        _alarm_resource,
    ),
    Patch(
        "cloudwatch-aws-metrics",
        "AWS/Lambda (Invocations, Errors, Throttles, Duration) and AWS/States (Executions*) "
        "metrics are recorded for what ran, with the function's EMF metrics",
        aws_metrics.install_states,
    ),
    Patch(
        "cloudwatch-metrics-arrive-late",
        "the metrics AWS publishes are queryable a while after the call "
        "(REINTENTO_METRICS_DELAY_SECONDS, default 60: Lambda sends them in 1-minute "
        "intervals), stamped with the call's time; moto showed them at once",
        aws_metrics.install_late_arrival,
    ),
    Patch(
        "cloudwatch-percentile-statistics",
        "GetMetricData answers percentile statistics (p99, p50, ...) as CloudWatch does (moto "
        "answered none)",
        aws_metrics.install_percentiles,
    ),
    Patch(
        "cloudwatch-alarm-evaluation",
        "metric alarms start INSUFFICIENT_DATA, evaluate (statistic, periods, datapoints to "
        "alarm, missing data, metric math), keep a history and run their SNS actions only if "
        "the topic policy lets CloudWatch publish",
        cloudwatch_alarms.install,
    ),
    Patch(
        "cloudwatch-logs-ingestion",
        "log events are searchable only once ingested (REINTENTO_LOGS_INGESTION_SECONDS after "
        "they were put, default 2); FilterLogEvents over 5 requests a second is throttled",
        logs_ingestion.install,
    ),
    Patch(
        "sns-topic-policy-resource",
        "AWS::SNS::TopicPolicy replaces its topics' policy (stock moto skips the type)",
        _topic_policy_resource,
    ),
    Patch(
        "changeset-stacks",
        "a stack created or updated by a change set resolves Fn::ImportValue, and has its "
        "Outputs and Exports",
        _changeset_stacks,
    ),
    Patch(
        "stepfunctions-service-credentials",
        "Step Functions' task clients sign their calls with the server's key (the local target "
        "refuses unsigned and unknown keys, as AWS does)",
        _stepfunctions_service_credentials,
    ),
    Patch(
        "iam-policy-conditions",
        "IAM policy conditions are evaluated (all operators but dates, IfExists, Null, set "
        "operators, missing keys) against the request's context; NotResource is honoured; a "
        "failed condition makes a statement not apply (stock moto denies)",
        iam_enforcement.install_conditions,
    ),
    Patch(
        "s3-missing-key-needs-list-bucket",
        "for role credentials, GetObject/HeadObject of a missing key answer 403 AccessDenied "
        "unless the role may s3:ListBucket the bucket (404 NoSuchKey then)",
        iam_enforcement.install_missing_key,
    ),
    Patch(
        "iam-resource-wildcards",
        "IAM resource patterns: `?` matches one character, `*` any run, the rest literally",
        _iam_resource_wildcards,
    ),
    Patch(
        "cloudformation-template-url",
        "a TemplateURL on the local endpoint (where the CDK CLI uploads templates) is read "
        "path-style from its bucket and key",
        _cloudformation_template_url,
    ),
    Patch(
        "cloudformation-change-sets",
        "a change set is found by its ARN or by its name within its stack; a missing one is "
        "ChangeSetNotFound (404) and deleting it a no-op (moto matched names across stacks "
        "and crashed on a delete; the CDK CLI's updates need both)",
        change_sets.install,
    ),
    Patch(
        "iam-role-cfn-policies",
        "AWS::IAM::Role keeps its inline Policies as JSON documents (moto's authorizer crashed "
        "on them) and attaches its ManagedPolicyArns (moto ignored them)",
        _iam_role_cfn_policies,
    ),
    Patch(
        "kms-key-properties",
        "AWS::KMS::Key keeps KeySpec and KeyUsage (asymmetric signing keys)",
        _kms_key_properties,
    ),
    Patch(
        "kms-invalid-signature",
        "Verify with an invalid signature raises KMSInvalidSignatureException",
        _kms_invalid_signature,
    ),
)

_applied: list[str] = []


def apply_all() -> list[str]:
    """Apply every patch once; return their names."""
    if not _applied:
        check_moto_version()
        for patch in PATCHES:
            patch.apply()
            _applied.append(patch.name)
    return list(_applied)
