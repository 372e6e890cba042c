"""The service stack: function, least-privilege IAM, batch state machine, monitoring, outputs."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from infra import names
from reintento_function import contract
from tests.infra.conftest import Synth, render


def _resources(synth: Synth, kind: str) -> dict[str, dict]:
    raw = synth.raw(synth.settings.service_stack_name)
    return {k: v for k, v in raw["Resources"].items() if v["Type"] == kind}


def _machines(synth: Synth, prefix: str) -> dict[str, dict]:
    """The state machines whose logical ID starts with ``prefix`` (its construct's ID)."""
    found = _resources(synth, "AWS::StepFunctions::StateMachine")
    return {k: v for k, v in found.items() if k.startswith(prefix)}


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
    shown = [
        (
            s.get("Sid"),
            s["Action"],
            [render(r) for r in s["Resource"]]
            if isinstance(s["Resource"], list)
            else render(s["Resource"]),
        )
        for s in statements
    ]
    # THEN exactly: read the model object, its manifest (the profile drift is counted
    # against, the engine record) and its compiled form, verify its signature (never sign),
    # read batch input
    # and runs' tickets, write batch output (patterns that cannot overlap: the run id is 24
    # `?`), own logs, X-Ray
    assert shown[0][0:2] == ("ReadModelObject", ["s3:GetObject", "s3:GetObjectVersion"])
    assert shown[0][2] == [
        "${Import}/models/mejor_modelo.pkl",
        "${Import}/models/mejor_modelo.json",
        "${Import}/models/mejor_modelo.onnx",
    ]
    assert shown[1] == ("VerifyModelSignature", "kms:Verify", "${Import}")
    run = "?" * 24
    assert shown[2] == (
        "ReadBatchInput",
        "s3:GetObject",
        [
            f"${{BatchBucket057AA9DF.Arn}}/batch/{run}/input/*",
            f"${{BatchBucket057AA9DF.Arn}}/batch/{run}/run.json",
        ],
    )
    # the results, and each slice's drift histograms beside them
    assert shown[3] == (
        "WriteBatchOutput",
        "s3:PutObject",
        [
            f"${{BatchBucket057AA9DF.Arn}}/batch/{run}/output/*",
            f"${{BatchBucket057AA9DF.Arn}}/batch/{run}/drift/*",
        ],
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


def test_state_machine_role_is_least_privilege(synth: Synth) -> None:
    policies = {
        k: p for k, p in _resources(synth, "AWS::IAM::Policy").items() if k.startswith("Batch")
    }
    statements = {
        s["Sid"]: s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    }
    # every statement is named, allows, and is one of these: nothing CDK would add on its own
    # (its Distributed Map grants would read and write every object of the batch bucket)
    assert set(statements) == {
        "InvokeTheFunction",
        "ReadRunManifests",
        "RecordFailedSlices",
        "CountFailedSlices",
        "WriteMapRunResults",
        "RunChildWorkflows",
        "WatchChildWorkflows",
        "DeliverLogs",
        "Trace",
    }
    assert all(s["Effect"] == "Allow" for s in statements.values())
    function_id = next(iter(_resources(synth, "AWS::Lambda::Function")))
    assert statements["InvokeTheFunction"]["Resource"] == [
        {"Fn::GetAtt": [function_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":*"]]},
    ]
    bucket_id = next(k for k in _resources(synth, "AWS::S3::Bucket") if k.startswith("Batch"))

    def objects(pattern: str) -> dict:
        return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{pattern}"]]}

    assert statements["ReadRunManifests"]["Action"] == "s3:GetObject"
    assert statements["ReadRunManifests"]["Resource"] == objects(names.BATCH_MANIFEST_PATTERN)
    assert statements["RecordFailedSlices"]["Action"] == "s3:PutObject"
    assert statements["RecordFailedSlices"]["Resource"] == objects(names.BATCH_FAILED_PATTERN)
    assert statements["WriteMapRunResults"]["Resource"] == objects(f"{names.MAP_RUN_PREFIX}/*")
    # PutMetricData has no resource type: held to the project's namespace by its condition key
    assert statements["CountFailedSlices"]["Action"] == "cloudwatch:PutMetricData"
    assert statements["CountFailedSlices"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": names.METRICS_NAMESPACE}
    }
    # children are executions of this machine only
    (machine_id,) = _machines(synth, names.BATCH_PIPELINE)
    assert statements["RunChildWorkflows"]["Resource"] == {"Ref": machine_id}
    assert {"Fn::GetAtt": [machine_id, "Name"]} in (
        statements["WatchChildWorkflows"]["Resource"]["Fn::Join"][1]
    )
    for sid in ("DeliverLogs", "Trace"):
        assert all(a.startswith(("logs:", "xray:")) for a in statements[sid]["Action"])
    # the policy with the logs permissions exists before the machine (CreateStateMachine checks)
    machine = _resources(synth, "AWS::StepFunctions::StateMachine")[machine_id]
    logs_policy = next(k for k, p in policies.items() if "DeliverLogs" in json.dumps(p))
    assert logs_policy in machine["DependsOn"]


def test_state_machine_definition(synth: Synth) -> None:
    (machine,) = _machines(synth, names.BATCH_PIPELINE).values()
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
                    # the only state: nothing after the map gathers results into the state
                    "PredictSlices": Match.object_like(
                        {
                            "Type": "Map",
                            "End": True,
                            # the slice list is read from S3, never carried in the state
                            "ItemReader": Match.object_like(
                                {
                                    "ReaderConfig": {"InputType": "JSON"},
                                    "Parameters": Match.object_like({"Key.$": "$.manifest_key"}),
                                }
                            ),
                            "ResultWriter": Match.object_like(
                                {"Parameters": Match.object_like({"Prefix": "map-runs"})}
                            ),
                            "MaxConcurrency": 6,
                            "ToleratedFailurePercentage": 25,  # from context
                            "ItemSelector": {
                                "batch_slice": Match.object_like(
                                    {
                                        "input_key.$": "$$.Map.Item.Value.input_key",
                                        "rows.$": "$$.Map.Item.Value.rows",
                                        # labels only, or with probabilities: per batch
                                        "probabilities.$": "$$.Map.Item.Value.probabilities",
                                    }
                                ),
                                "failure_key.$": "$$.Map.Item.Value.failure_key",
                                # one function version (one model) for the whole batch
                                "function_version.$": "$.function_version",
                            },
                            "ItemProcessor": Match.object_like(
                                {
                                    "ProcessorConfig": {
                                        "Mode": "DISTRIBUTED",
                                        "ExecutionType": "EXPRESS",
                                    },
                                    "StartAt": "PredictSlice",
                                    "States": {
                                        "PredictSlice": Match.object_like(
                                            {
                                                "Parameters": Match.object_like(
                                                    {"Qualifier.$": "$.function_version"}
                                                ),
                                                # two counts out, never the model block
                                                "ResultSelector": {
                                                    "rows.$": "$.Payload.rows",
                                                    "failed.$": "$.Payload.failed",
                                                },
                                                "Retry": [
                                                    {
                                                        "ErrorEquals": transient,
                                                        "IntervalSeconds": 1,
                                                        "MaxAttempts": 3,
                                                        "BackoffRate": 2,
                                                    },
                                                    # an Inactive/Pending function: retried
                                                    # for 75 s while it restores (the Express
                                                    # child's 5 minutes hold all retries)
                                                    {
                                                        "ErrorEquals": [
                                                            "Lambda.ResourceNotReadyException",
                                                            "Lambda.ResourceConflictException",
                                                        ],
                                                        "IntervalSeconds": 5,
                                                        "MaxAttempts": 4,
                                                        "BackoffRate": 2,
                                                    },
                                                ],
                                                "Catch": [
                                                    {
                                                        "ErrorEquals": ["States.ALL"],
                                                        "ResultPath": "$.caught",
                                                        "Next": "RecordSliceFailure",
                                                    }
                                                ],
                                            }
                                        ),
                                        # the caught error goes to S3, not into the state
                                        "RecordSliceFailure": Match.object_like(
                                            {
                                                "Type": "Task",
                                                "Next": "CountSliceFailure",
                                                "Parameters": Match.object_like(
                                                    {
                                                        "Key.$": "$.failure_key",
                                                        "Body.$": "States.JsonToString($.caught)",
                                                    }
                                                ),
                                                "ResultPath": None,
                                                "OutputPath": "$.failure_key",
                                            }
                                        ),
                                    },
                                }
                            ),
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
    assert "ItemBatcher" not in definition and "ItemsPath" not in definition


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
    # and so is the drift alarm
    assert metrics == [
        ("BatchSlicesFailed", "Sum"),
        ("Errors", "Sum"),
        ("RealtimeLatency", "p99"),
        ("Throttles", "Sum"),
        ("math", ""),
        ("math", ""),
        ("math", ""),
    ]
    # the invalid-request alarm: refused requests (per function) as a percentage of the
    # function's invocations (20 more), over 10%
    (invalid,) = [a for name, a in alarms.items() if "InvalidRequests" in name]
    assert invalid["Properties"]["Threshold"] == 10
    assert invalid["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    refused = invalid["Properties"]["Metrics"]
    assert next(q["Expression"] for q in refused if "Expression" in q).replace(" ", "") == (
        "100*FILL(refused,0)/(FILL(calls,0)+20)"
    )
    refused_stats = {q["Id"]: q["MetricStat"]["Metric"] for q in refused if "MetricStat" in q}
    assert refused_stats["refused"]["MetricName"] == "InvalidRequests"
    assert {d["Name"] for d in refused_stats["refused"]["Dimensions"]} == {
        "FunctionName",
        "service",
    }
    assert refused_stats["calls"]["MetricName"] == "Invocations"
    # the failed-slices alarm: any slice of this stage's batches that failed after its retries
    # (the state machine counts it: the execution itself succeeds, its failure caught)
    (slices,) = [a for name, a in alarms.items() if "BatchSlicesFailed" in name]
    assert slices["Properties"]["Threshold"] == 1
    assert slices["Properties"]["Namespace"] == "Reintento"
    assert [d["Name"] for d in slices["Properties"]["Dimensions"]] == ["StateMachineName"]
    # the drift alarm: the rows whose worst feature was out of profile, as a percentage of the
    # rows compared (20 more counted as in profile), per function, above the stack's percentage
    (drift,) = [a for name, a in alarms.items() if "InputDrift" in name]
    assert drift["Properties"]["Threshold"] == 10
    assert drift["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert drift["Properties"]["TreatMissingData"] == "notBreaching"
    queries = drift["Properties"]["Metrics"]
    expression = next(q["Expression"] for q in queries if "Expression" in q)
    assert expression.replace(" ", "") == "100*FILL(out,0)/(rows+20)"
    stats = {q["Id"]: q["MetricStat"] for q in queries if "MetricStat" in q}
    assert {i: m["Metric"]["MetricName"] for i, m in stats.items()} == {
        "out": "OutOfProfileRows",
        "rows": "ProfiledRows",
    }
    for stat in stats.values():
        assert stat["Stat"] == "Sum" and stat["Period"] == 300
        assert {d["Name"] for d in stat["Metric"]["Dimensions"]} == {"FunctionName", "service"}
    # the latency alarm: realtime requests only (the function's own figure, per function); with
    # nothing measured, 80% of the timeout
    p99 = next(a for a in alarms.values() if a["Properties"].get("MetricName") == "RealtimeLatency")
    assert p99["Properties"]["Threshold"] == 16000
    assert p99["Properties"]["EvaluateLowSampleCountPercentile"] == "evaluate"
    assert {d["Key"] if "Key" in d else d["Name"] for d in p99["Properties"]["Dimensions"]} == {
        "FunctionName",
        "service",
    }
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())
    synth.service.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    synth.service.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_the_dashboard_shows_each_function_version_apart(synth: Synth) -> None:
    """#36: during a rollout the two versions' calls, errors, p99 and invalid requests side by
    side: searches over the version dimension (versions are published after deploy)."""
    (dashboard,) = _resources(synth, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    searches = {
        w["properties"]["title"]: w["properties"]["metrics"][0][0]["expression"]
        for w in body["widgets"]
        if "per function version" in w["properties"].get("title", "")
    }
    lam = "{AWS/Lambda,ExecutedVersion,FunctionName,Resource}"
    assert set(searches) == {
        "Invocations, per function version",
        "Errors, per function version",
        "Duration p99 (ms), per function version",
        "Invalid requests, per function version",
    }
    for title, (schema, metric, stat) in {
        "Invocations, per function version": (lam, "Invocations", "Sum"),
        "Errors, per function version": (lam, "Errors", "Sum"),
        "Duration p99 (ms), per function version": (lam, "Duration", "p99"),
        "Invalid requests, per function version": (
            "{Reintento,ExecutedVersion,FunctionName,service}",
            contract.INVALID_REQUESTS_METRIC,
            "Sum",
        ),
    }.items():
        expression = searches[title]
        assert expression.startswith(f'SEARCH(\'{schema} MetricName="{metric}" FunctionName=')
        assert expression.endswith(f"', '{stat}', 300)")


def test_outputs_have_fixed_keys(synth: Synth) -> None:
    outputs = synth.raw(synth.settings.service_stack_name)["Outputs"]
    for key in (
        names.OUT_MODEL_KEY,
        names.OUT_BATCH_BUCKET,
        names.OUT_FUNCTION_NAME,
        names.OUT_FUNCTION_ARN,
        names.OUT_LIVE_ALIAS_ARN,
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


def test_the_drift_alarm_percentage_is_taken_from_context_and_checked() -> None:
    from infra.settings import settings_from_context

    assert settings_from_context({"drift_alarm_percent": "25"}).drift_alarm_percent == 25.0
    for wrong in ("0", "150", "-3"):
        with pytest.raises(ValueError, match="drift_alarm_percent must be above 0"):
            settings_from_context({"drift_alarm_percent": wrong})


def test_the_rollout_guard_can_only_read_and_move_the_live_alias(synth: Synth) -> None:
    """#36: a rollout whose controller stopped is ended beside the function: at its deadline the
    guard reads the live alias and, while the old version is still primary, moves every call
    back to it with the RevisionId it read."""
    (machine,) = _machines(synth, names.ROLLOUT_GUARD).values()
    props = machine["Properties"]
    assert props["StateMachineName"] == contract.rollout_guard_name(
        synth.settings.stack_prefix, synth.settings.stage
    )
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    definition = json.loads(render(props["DefinitionString"]))
    states = definition["States"]
    assert definition["StartAt"] == "UntilTheDeadline"
    # counted by Step Functions (SecondsPath), not the clock of the machine that started it
    assert states["UntilTheDeadline"]["SecondsPath"] == f"$.{contract.GUARD_WAIT_SECONDS}"
    # the function is this stage's, whatever the execution input says
    assert "FunctionName.$" not in states["ReadTheLiveAlias"]["Parameters"]
    assert states["ReadTheLiveAlias"]["Resource"].endswith(":states:::aws-sdk:lambda:getAlias")
    (rule,) = states["OldVersionStillPrimary"]["Choices"]
    assert rule["StringEqualsPath"] == f"$.{contract.GUARD_OLD_VERSION}"
    assert rule["Next"] == "EveryCallBackOnTheOldVersion"
    move = states["EveryCallBackOnTheOldVersion"]
    assert move["Resource"].endswith(":states:::aws-sdk:lambda:updateAlias")
    assert move["Parameters"]["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    assert move["Parameters"]["RevisionId.$"] == f"$.{contract.GUARD_FOUND}.RevisionId"
    policies = {
        k: p
        for k, p in _resources(synth, "AWS::IAM::Policy").items()
        if k.startswith(names.ROLLOUT_GUARD)
    }
    statements = {
        s["Sid"]: s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    }
    assert set(statements) == {"ReadAndMoveTheLiveAlias", "DeliverLogs", "Trace"}
    alias = statements["ReadAndMoveTheLiveAlias"]
    assert sorted(alias["Action"]) == ["lambda:GetAlias", "lambda:UpdateAlias"]
    function_id = next(iter(_resources(synth, "AWS::Lambda::Function")))
    assert alias["Resource"][0] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert render(alias["Resource"][1]).endswith(f":{contract.LIVE_ALIAS}")
    assert len(alias["Resource"]) == 2
    for sid in ("DeliverLogs", "Trace"):
        assert all(a.startswith(("logs:", "xray:")) for a in statements[sid]["Action"])


def test_the_latency_alarm_takes_its_threshold_from_context_and_checks_it() -> None:
    from infra.settings import settings_from_context

    assert settings_from_context({"latency_alarm_ms": "250"}).latency_alarm_ms == 250.0
    assert settings_from_context({"latency_alarm_ms": ""}).latency_alarm_ms is None
    for wrong in ("0", "30001"):
        with pytest.raises(ValueError, match=r"latency_alarm_ms must be 1\.\.30000"):
            settings_from_context({"latency_alarm_ms": wrong})
    with pytest.raises(ValueError, match=r"latency_alarm_ms must be 1\.\.10000"):
        settings_from_context({"latency_alarm_ms": "20000", "timeout_seconds": "10"})
