"""Logs and metrics right after calls: CloudWatch Logs shows an event only once it is ingested,
and rations FilterLogEvents to 5 requests a second; `ops.metrics()` and `ops.logs()` wait
(bounded) for the REPORT lines of the calls `ops` just made, and pace their reads."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import ops
from ops.targets import target_for
from tests.integration.conftest import Deployed

pytestmark = pytest.mark.integration

ROWS = ops.sample_rows(1, seed=3)


def test_an_invocation_is_searchable_only_once_ingested(deployed: Deployed) -> None:
    lam, logs = deployed.client("lambda"), deployed.client("logs")
    # WHEN the function is invoked
    answer = lam.invoke(
        FunctionName=deployed.outputs.function_name,
        Qualifier="live",
        Payload=b'{"instances": []}',
    )
    # THEN the answer carries the invocation's request id, the id of its REPORT line
    request_id = answer["ResponseMetadata"]["RequestId"]
    pattern = f'"REPORT RequestId: {request_id}"'
    group = deployed.outputs.function_log_group

    def found() -> int:
        return len(logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"])

    # AND its REPORT line is not searchable at once, but is once ingested
    assert found() == 0
    for _ in range(40):
        time.sleep(0.25)
        if found():
            break
    assert found() == 1


def test_filter_log_events_is_rationed(deployed: Deployed) -> None:
    # a client that does not retry: the refusal itself shows
    eager = boto3.client(
        "logs",
        endpoint_url=deployed.endpoint,
        region_name=deployed.settings.region,
        aws_access_key_id=deployed.operator.access_key_id,
        aws_secret_access_key=deployed.operator.secret_access_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=12),
    )
    group = deployed.outputs.function_log_group
    time.sleep(1.1)  # a fresh second
    # WHEN a burst of 12 calls starts at once (threads released together, so they arrive within
    # the same second however loaded the machine is; the exact quota is unit-tested with a clock)
    start = threading.Barrier(12)
    codes: list[str] = []

    def call() -> None:
        start.wait()
        try:
            eager.filter_log_events(logGroupName=group, limit=1)
            codes.append("ok")
        except ClientError as err:
            codes.append(err.response["Error"]["Code"])

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN some are answered and the rest throttled, as CloudWatch Logs throttles
    assert "ok" in codes and "ThrottlingException" in codes, codes
    assert set(codes) == {"ok", "ThrottlingException"}, codes


def test_metrics_right_after_calls_count_every_call(deployed: Deployed) -> None:
    s = deployed.settings
    # GIVEN a few realtime calls made just now
    calls = [ops.predict(ROWS, settings=s) for _ in range(5)]
    assert all(isinstance(c, ops.Prediction) for c in calls)
    made = target_for(s).invocations_since(time.time() - 60)
    assert len(made) >= 5
    # WHEN metrics are read at once, several times in a row
    for _ in range(3):
        figures = ops.metrics(60, settings=s)
        assert isinstance(figures, ops.Metrics)
        # THEN each of those calls has its REPORT line counted, and nothing was throttled
        assert set(made) <= {r.request_id for r in figures.reports}
        assert figures.missing_reports == 0
    events = ops.logs(60, pattern="REPORT", settings=s)
    assert isinstance(events, tuple)
    assert all(any(i in e.message for e in events) for i in made)


def test_a_cost_estimate_uses_what_the_deployed_function_bills(deployed: Deployed) -> None:
    """#35 finding 7: with a deployment, the estimate rests on the function's measured billed
    duration, memory and cold starts (what `estimate-cost` reads), not on assumptions."""
    from ops.observe import deployed_figures

    s = deployed.settings
    for _ in range(3):
        ops.predict(ROWS, settings=s)
    figures = deployed_figures(s)
    assert figures is not None and figures.invocations >= 3
    estimate = ops.estimate_cost(10_000, measured=figures)
    said = estimate.record()["figures"]
    assert said["duration_ms"].startswith("measured") and said["memory_mb"].startswith("measured")
    assert f"{figures.mean_billed_ms:,.4g} ms billed per call" in said["duration_ms"]
    lambda_compute = next(line for line in estimate.lines if line.item.startswith("compute"))
    expected = 10_000 * figures.mean_billed_ms / 1000 * (figures.memory_mb or 0) / 1024
    assert lambda_compute.quantity == pytest.approx(expected)


def test_the_model_loads_during_init_not_in_the_first_calls_duration(deployed: Deployed) -> None:
    """#34 item 5: the model loaded inside the first invocation, so every new environment's
    load counted in Duration, the figure a rollout's p99 guardrail judges; on AWS a function's
    static initialization counts in Init Duration instead."""
    import json
    import uuid

    from reintento_function import contract

    s = deployed.settings
    lam, name = deployed.client("lambda"), deployed.outputs.function_name
    waiter = lam.get_waiter("function_updated_v2")
    before = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    # GIVEN a freshly published version (its first call is a cold start) pinning the live model
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**before, "COLD": uuid.uuid4().hex}}
    )
    waiter.wait(FunctionName=name)
    try:
        version = lam.publish_version(FunctionName=name)["Version"]
        lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
        # WHEN it is called once
        payload = json.dumps({contract.EVENT_REALTIME: ROWS}).encode()
        answer = lam.invoke(FunctionName=name, Qualifier=version, Payload=payload)
        request_id = answer["ResponseMetadata"]["RequestId"]
        assert "predictions" in json.loads(answer["Payload"].read())
    finally:
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": before})
        waiter.wait(FunctionName=name)
    # THEN its REPORT line counts the model's load in Init Duration, not in Duration
    report, loads = None, []
    for _ in range(20):  # until ingested
        report = next(
            (r for r in ops.metrics(120, settings=s).reports if r.request_id == request_id), None
        )
        events = ops.logs(120, settings=s)
        streams = {e.stream for e in events if request_id in e.message}  # that environment's
        loads = [
            float(json.loads(e.message)["load_ms"])
            for e in events
            if e.stream in streams and '"model loaded"' in e.message
        ]
        if report is not None and loads:
            break
        time.sleep(1)
    assert report is not None and report.cold, report
    (load_ms,) = loads  # one load in that environment, during its init
    assert report.init_ms is not None and report.init_ms >= load_ms, (report, load_ms)
    assert report.duration_ms < load_ms, (report, load_ms)
