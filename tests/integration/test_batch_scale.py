"""A batch's Step Functions state stays small whatever its size, and it runs at most
MaxConcurrency slices at once. The state stays small: the slice list is read from an
S3 manifest (Distributed Map ItemReader), results and failures live in S3, the state carries
only their locations. AWS fails an execution whose state reaches 256 KB with an uncatchable
States.DataLimitExceeded (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html),
and the local target does too (tests/integration/test_patches.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import ops
from ops.batch import read_results, results_so_far
from ops.inputs.batch_io import plan_slices
from ops.modelfiles.demo_model import DemoModel
from ops.observe import parse_report
from ops.targets import target_for
from tests.integration.conftest import Deployed, run_slices, wait_for_ingestion

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLICES = 1_000  # failing slices, as "AWS parity II" asks
# succeeding slices: the inline Map's results passed 256 KB at about 530 of them (this test
# failed with States.DataLimitExceeded before the Distributed Map)
SUCCEEDING_SLICES = 600


def _largest_state(sfn: Any, execution_arn: str) -> int:
    """The largest input or output (bytes) of any event in the execution's history."""
    largest = 0
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for event in page["events"]:
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    for field in ("input", "output"):
                        if isinstance(details.get(field), str):
                            largest = max(largest, len(details[field].encode()))
        if not page.get("nextToken"):
            return largest
        kwargs["nextToken"] = page["nextToken"]


def test_a_many_slice_batch_keeps_its_state_small(deployed: Deployed) -> None:
    # WHEN a batch is cut into 600 slices (one row each, to keep the test quick)
    n = SUCCEEDING_SLICES
    result = ops.run_batch(
        ops.sample_rows(n, seed=8), slice_rows=1, progress=False, settings=deployed.settings
    )
    # THEN it completes with every row accounted for, predicted by one model version
    assert isinstance(result, ops.BatchResult) and result.slices == n
    assert result.accounted_for and (result.rows, result.failed) == (n, 0)
    assert len(result.model_versions) == 1
    # AND no state came near the 256 KB limit
    sfn = target_for(deployed.settings).client("stepfunctions")
    arn = f"{deployed.outputs.state_machine_arn.replace(':stateMachine:', ':execution:')}:"
    largest = _largest_state(sfn, arn + result.run_id)
    print(f"largest state of a {n}-slice batch: {largest:,} bytes")
    assert largest < 8_192


def test_a_thousand_failing_slices_with_long_errors_lose_no_row(deployed: Deployed) -> None:
    # GIVEN a batch of 1,000 slices whose inputs are missing: every slice fails (the function's
    # error, with its stack trace, is the caught error: about 1 KB each)
    s, out = deployed.settings, deployed.outputs
    target = target_for(s)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-0badf00d"
    slices = plan_slices(SLICES, run_id, 1)
    # WHEN the state machine runs them
    described = run_slices(target, run_id, slices, timeout=600)
    # THEN the execution succeeds and every row comes back as its slice's error
    assert described["status"] == "SUCCEEDED", described
    results, failed_slices, _ = read_results(target, out.batch_bucket, slices, [0, 1])
    assert len(results) == SLICES and failed_slices == SLICES
    assert set(results["error_type"]) == {"BatchSliceError"}
    assert results["error"].str.contains("cannot read").all()
    largest = _largest_state(target.client("stepfunctions"), described["executionArn"])
    print(f"largest state of {SLICES} failed slices: {largest:,} bytes")
    assert largest < 8_192


def test_the_progress_count_reads_every_page_of_a_long_listing(deployed: Deployed) -> None:
    # GIVEN 1,205 result objects under one batch's output prefix (a listing page holds at most
    # 1,000 keys: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html)
    s3 = target_for(deployed.settings).client("s3")
    bucket, prefix, count = deployed.outputs.batch_bucket, "batch/progress-probe/output/", 1_205
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(Bucket=bucket, Key=f"{prefix}{i:05d}", Body=b""),
                range(count),
            )
        )
    # THEN one page stops at 1,000 (what the progress bar counted before), every page is all
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 1_000
    assert results_so_far(s3, bucket, prefix) == count


def _most_at_once(reports: list[tuple[int, float]]) -> int:
    """The most invocations running at the same moment, from (start ms, duration ms) pairs."""
    edges = sorted(
        [(start, 1) for start, _ in reports]
        + [(start + duration, -1) for start, duration in reports]
    )
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_a_batch_runs_at_most_max_concurrency_slices_at_once(
    local_settings: ops.Settings, demo_model: DemoModel
) -> None:
    # GIVEN a stage whose batch may run 2 slices at a time (the function itself could run 4)
    s = ops.Settings.resolve(local_settings, stage="mc", context={"max_concurrency": 2})
    ops.deploy(settings=s, approve_security_changes=True)
    ops.upload_model(demo_model.path, settings=s)
    try:
        # WHEN a batch of 16 slices runs
        started = time.time()
        result = ops.run_batch(
            ops.sample_rows(16 * 500, seed=9), slice_rows=500, progress=False, settings=s
        )
        assert isinstance(result, ops.BatchResult) and result.accounted_for
        # THEN no moment had more than 2 slices running (each slice's REPORT line: its start
        # and duration), where 4 environments were there to take them
        wait_for_ingestion()
        events = ops.logs(time.time() - started + 1, pattern="REPORT", settings=s)
        assert isinstance(events, tuple)
        spans = [
            (e.timestamp_ms, report.duration_ms)
            for e in events
            if (report := parse_report(e.message)) is not None
        ]
        assert len(spans) >= 16
        assert _most_at_once(spans) <= 2, spans
    finally:
        ops.teardown(s.service_stack_name, settings=s)
