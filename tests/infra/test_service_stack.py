"""The service stack: function, least-privilege IAM, batch state machine, monitoring, outputs."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra import names
from tests.infra.conftest import Synth, render


def _resources(synth: Synth, kind: str) -> dict[str, dict]:
    raw = synth.raw(synth.settings.service_stack_name)
    return {k: v for k, v in raw["Resources"].items() if v["Type"] == kind}


def test_function_is_an_image_with_the_settings(synth: Synth) -> None:
    synth.service.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "PackageType": "Image",
            "MemorySize": 2048,
            "Timeout": 20,
            "Architectures": ["arm64"],
            "ReservedConcurrentExecutions": 5,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {
                "LogGroup": {"Ref": Match.string_like_regexp("InferenceFunctionLogGroup")}
            },
            "Environment": {
                "Variables": {
                    "MODEL_BUCKET": {"Fn::ImportValue": Match.any_value()},
                    "MODEL_KEY": "models/mejor_modelo.pkl",
                    "MODEL_SIGNING_KEY_ARN": {"Fn::ImportValue": Match.any_value()},
                    "BATCH_BUCKET": {"Ref": Match.string_like_regexp("BatchBucket")},
                    "MODEL_REFRESH_SECONDS": "60",
                    "MAX_ROWS": "1000",
                    "POWERTOOLS_SERVICE_NAME": names.SERVICE_NAME,
                    "POWERTOOLS_METRICS_NAMESPACE": names.METRICS_NAMESPACE,
                }
            },
        },
    )
    synth.service.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 14})


def test_function_role_is_least_privilege(synth: Synth) -> None:
    (policy,) = [
        p
        for k, p in _resources(synth, "AWS::IAM::Policy").items()
        if k.startswith("InferenceFunction")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    shown = [(s.get("Sid"), s["Action"], render(s["Resource"])) for s in statements]
    # THEN exactly: read the model object, verify its signature (never sign), read batch input,
    # write batch output (patterns that cannot overlap: the run id is 24 `?`), own logs, X-Ray
    assert shown[0][0:2] == ("ReadModelObject", ["s3:GetObject", "s3:GetObjectVersion"])
    assert shown[0][2] == "${Import}/models/mejor_modelo.pkl"
    assert shown[1] == ("VerifyModelSignature", "kms:Verify", "${Import}")
    run = "?" * 24
    assert shown[2] == (
        "ReadBatchInput",
        "s3:GetObject",
        f"${{BatchBucket057AA9DF.Arn}}/batch/{run}/input/*",
    )
    assert shown[3] == (
        "WriteBatchOutput",
        "s3:PutObject",
        f"${{BatchBucket057AA9DF.Arn}}/batch/{run}/output/*",
    )
    assert shown[4][0:2] == ("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"])
    assert shown[4][2].startswith("${InferenceFunctionLogGroup")
    assert shown[5] == (None, ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")
    # AND listing the model bucket only for the model key (a missing model is then 404
    # "upload a model", not 403: AWS parity II, item 3)
    listing = statements[6]
    assert (listing["Sid"], listing["Action"], render(listing["Resource"])) == (
        "ListModelKeyOnly",
        "s3:ListBucket",
        "${Import}",
    )
    assert listing["Condition"] == {"StringEquals": {"s3:prefix": "models/mejor_modelo.pkl"}}
    assert len(statements) == 7
    actions = json.dumps([s["Action"] for s in statements if s is not listing])
    assert "s3:*" not in actions and "List" not in actions and "Delete" not in actions
    assert "Sign" not in actions.replace("kms:Verify", "")
    assert not any(s["Effect"] != "Allow" for s in statements)


def test_state_machine_role_invokes_only_the_function(synth: Synth) -> None:
    (policy,) = [
        p for k, p in _resources(synth, "AWS::IAM::Policy").items() if k.startswith("BatchPipeline")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    invoke = [s for s in statements if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert len(invoke) == 1
    function_id = next(iter(_resources(synth, "AWS::Lambda::Function")))
    assert invoke[0]["Resource"] == [
        {"Fn::GetAtt": [function_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":*"]]},
    ]
    others = [s for s in statements if s is not invoke[0]]
    for s in others:
        assert all(a.startswith(("logs:", "xray:")) for a in s["Action"])


def test_state_machine_definition(synth: Synth) -> None:
    (machine,) = _resources(synth, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    # ERROR without execution data: caught slice errors carry row values (security review)
    assert props["LoggingConfiguration"]["Level"] == "ERROR"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    definition = render(props["DefinitionString"])
    transient = list(names.TRANSIENT_ERRORS)
    pattern = Match.serialized_json(
        Match.object_like(
            {
                "StartAt": "PredictSlices",
                "States": {
                    "PredictSlices": Match.object_like(
                        {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "MaxConcurrency": 6,
                            "ResultPath": "$.results",
                            "ItemSelector": {
                                "batch_slice": Match.object_like(
                                    {
                                        "input_key.$": "$$.Map.Item.Value.input_key",
                                        "rows.$": "$$.Map.Item.Value.rows",
                                    }
                                ),
                                # one function version (one model) for the whole batch
                                "function_version.$": "$.function_version",
                            },
                            "ItemProcessor": Match.object_like(
                                {
                                    "StartAt": "PredictSlice",
                                    "States": {
                                        "PredictSlice": Match.object_like(
                                            {
                                                "Parameters": Match.object_like(
                                                    {"Qualifier.$": "$.function_version"}
                                                ),
                                                "Retry": [
                                                    {
                                                        "ErrorEquals": transient,
                                                        "IntervalSeconds": 1,
                                                        "MaxAttempts": 3,
                                                        "BackoffRate": 2,
                                                    },
                                                    # an Inactive/Pending function: retried
                                                    # for about 5 minutes while it restores
                                                    {
                                                        "ErrorEquals": [
                                                            "Lambda.ResourceNotReadyException",
                                                            "Lambda.ResourceConflictException",
                                                        ],
                                                        "IntervalSeconds": 5,
                                                        "MaxAttempts": 6,
                                                        "BackoffRate": 2,
                                                    },
                                                ],
                                                "Catch": [
                                                    {
                                                        "ErrorEquals": ["States.ALL"],
                                                        "ResultPath": "$.caught",
                                                        "Next": "SliceFailed",
                                                    }
                                                ],
                                            }
                                        ),
                                        "SliceFailed": Match.object_like({"Type": "Pass"}),
                                    },
                                }
                            ),
                        }
                    ),
                    "Summarize": Match.object_like(
                        {
                            "Type": "Task",
                            "End": True,
                            "Parameters": Match.object_like({"Qualifier.$": "$.function_version"}),
                        }
                    ),
                },
            }
        )
    )
    result = pattern.test(definition)
    assert not result.has_failed(), result.to_human_strings()
    for permanent in names.PERMANENT_ERRORS:
        assert permanent not in definition
    assert "ItemBatcher" not in definition and "ToleratedFailurePercentage" not in definition


def test_alarms_dashboard_and_email(synth: Synth) -> None:
    alarms = _resources(synth, "AWS::CloudWatch::Alarm")
    metrics = sorted(
        (
            a["Properties"].get("MetricName") or "math",
            a["Properties"].get("ExtendedStatistic") or a["Properties"].get("Statistic") or "",
        )
        for a in alarms.values()
    )
    # the batch alarm is metric math over failed + timed out + aborted (tests/infra/test_parity.py)
    assert metrics == [
        ("Duration", "p99"),
        ("Errors", "Sum"),
        ("Throttles", "Sum"),
        ("math", ""),
    ]
    p99 = next(a for a in alarms.values() if a["Properties"].get("MetricName") == "Duration")
    assert p99["Properties"]["Threshold"] == 16000
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    synth.service.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    synth.service.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_outputs_have_fixed_keys(synth: Synth) -> None:
    outputs = synth.raw(synth.settings.service_stack_name)["Outputs"]
    for key in (
        names.OUT_MODEL_KEY,
        names.OUT_BATCH_BUCKET,
        names.OUT_FUNCTION_NAME,
        names.OUT_FUNCTION_ARN,
        names.OUT_FUNCTION_LOG_GROUP,
        names.OUT_STATE_MACHINE_ARN,
        names.OUT_STATE_MACHINE_LOG_GROUP,
        names.OUT_DASHBOARD,
        names.OUT_ALARM_TOPIC,
    ):
        assert key in outputs, key
    assert names.OUT_MODEL_BUCKET in synth.raw(synth.settings.model_stack_name)["Outputs"]


def test_batch_bucket_is_private_and_expires(synth: Synth) -> None:
    synth.service.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicPolicy": True}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"ExpirationInDays": 7})])
            },
        },
    )
