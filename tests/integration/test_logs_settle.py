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
