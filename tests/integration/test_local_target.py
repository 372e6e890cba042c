"""The local target end to end, over HTTP: deploy, upload, invoke, batch, logs, IAM, teardown."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

import ops
from reintento_function.contract import manifest_key
from reintento_local import LocalTargetError, patches, process
from tests.integration.conftest import Deployed, free_port, role_credentials, wait_for_ingestion


def test_pinned_moto_canary() -> None:
    # THEN the fixes run on exactly the moto they were written for
    import moto

    assert moto.__version__ == patches.PINNED_MOTO, (
        f"moto {moto.__version__} is installed but local_target/reintento_local/patches.py is "
        f"written for {patches.PINNED_MOTO}: re-check every fix before moving the pin"
    )
    patches.check_moto_version()


def test_invoke_equals_model_predict(
    deployed: Deployed, demo_estimator: Any, rows_1000: list[dict[str, Any]]
) -> None:
    # WHEN 1,000 rows are sent to the deployed function
    lam = deployed.client("lambda")
    response = lam.invoke(
        FunctionName=deployed.outputs.function_name, Payload=json.dumps({"instances": rows_1000})
    )
    body = json.loads(response["Payload"].read())
    # THEN the answer equals the model's own predictions and names the live version
    assert "FunctionError" not in response
    assert body["predictions"] == demo_estimator.predict(pd.DataFrame(rows_1000)).tolist()
    assert body["model"]["version_id"] == deployed.model_version
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "$LATEST"


def test_batch_through_the_state_machine(deployed: Deployed, demo_estimator: Any) -> None:
    # GIVEN 3,000 rows, 2 of them invalid
    rows = ops.sample_rows(3000, seed=3)
    rows[10]["region"] = "mars-1"
    del rows[2999]["servicio"]
    # WHEN run as a batch
    result = ops.run_batch(rows, progress=False, settings=deployed.settings)
    assert isinstance(result, ops.BatchResult)
    # THEN one result per row, in order; the 2 invalid rows are errors, the rest predictions
    frame = result.results
    assert (result.rows, result.succeeded, result.failed) == (3000, 2998, 2)
    assert list(frame["row"]) == list(range(3000))
    assert list(frame.index[frame["error_type"].notna()]) == [10, 2999]
    valid = frame[frame["error_type"].isna()]
    expected = demo_estimator.predict(pd.DataFrame([rows[i] for i in valid.index]))
    assert valid["prediction"].tolist() == expected.tolist()
    assert result.output_uri.startswith(f"s3://{deployed.outputs.batch_bucket}/batch/")


def test_report_lines_in_cloudwatch_logs(deployed: Deployed) -> None:
    # GIVEN at least one invocation
    ops.predict(ops.sample_rows(1), settings=deployed.settings)
    # WHEN the function's log group is searched (once its events are ingested)
    wait_for_ingestion()
    logs = deployed.client("logs")
    events = logs.filter_log_events(
        logGroupName=deployed.outputs.function_log_group, filterPattern="REPORT"
    )["events"]
    # THEN REPORT lines are there, a cold one with Init Duration
    messages = [e["message"] for e in events]
    assert messages and all("Billed Duration:" in m for m in messages)
    assert any("Init Duration:" in m for m in messages)
    starts = logs.filter_log_events(
        logGroupName=deployed.outputs.function_log_group, filterPattern="START"
    )["events"]
    assert len(starts) >= len(messages)


def test_a_warm_call_logs_no_warning(deployed: Deployed) -> None:
    # GIVEN a warm environment answering a call that adds no metric (describe-model) and one
    # that does (a prediction)
    from ops.service.function import describe_model
    from ops.targets import target_for

    target = target_for(deployed.settings)
    ops.predict(ops.sample_rows(1), settings=deployed.settings)
    started = int(time.time() * 1000)
    describe_model(target)
    ops.predict(ops.sample_rows(2), settings=deployed.settings)
    wait_for_ingestion()
    # THEN the function's log has no warning line for them (Powertools' "No application
    # metrics to publish" included)
    events = deployed.client("logs").filter_log_events(
        logGroupName=deployed.outputs.function_log_group, startTime=started
    )["events"]
    assert events
    noisy = [e["message"] for e in events if "warn" in e["message"].lower()]
    assert noisy == []


def test_function_role_can_read_the_model_but_not_write_list_or_read_elsewhere(
    deployed: Deployed,
) -> None:
    # GIVEN the credentials of the function's own role
    lam = deployed.client("lambda")
    role = lam.get_function_configuration(FunctionName=deployed.outputs.function_name)["Role"]
    creds = role_credentials(deployed, role, "probe")
    s3 = deployed.client(
        "s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"]
    )
    bucket, key = deployed.outputs.model_bucket, deployed.outputs.model_key
    # THEN reading the model works
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read()[:2]
    # AND writing, deleting, listing, or reading another bucket is denied
    other = deployed.client("s3")
    other.create_bucket(Bucket="someone-elses-bucket")
    other.put_object(Bucket="someone-elses-bucket", Key="secret.txt", Body=b"x")
    attempts = {
        "put model": lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"evil"),
        "delete model": lambda: s3.delete_object(Bucket=bucket, Key=key),
        "list bucket": lambda: s3.list_objects_v2(Bucket=bucket),
        "read other bucket": lambda: s3.get_object(Bucket="someone-elses-bucket", Key="secret.txt"),
        "invoke": lambda: deployed.client(
            "lambda",
            key=creds["AccessKeyId"],
            secret=creds["SecretAccessKey"],
            token=creds["SessionToken"],
        ).invoke(FunctionName=deployed.outputs.function_name, Payload=b"{}"),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ClientError) as caught:
            attempt()
        response = caught.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 403, name
        assert response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException", "403"), name


def test_aws_cli_invokes_the_function_and_starts_the_state_machine(
    deployed: Deployed, tmp_path: Path
) -> None:
    aws = [
        sys.executable,
        "-m",
        "awscli",
        "--endpoint-url",
        deployed.endpoint,
        "--region",
        deployed.settings.region,
    ]
    out = tmp_path / "out.json"
    payload = json.dumps({"instances": ops.sample_rows(2)})
    done = subprocess.run(
        [
            *aws,
            "lambda",
            "invoke",
            "--function-name",
            deployed.outputs.function_name,
            "--payload",
            payload,
            str(out),
        ],
        env=deployed.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["predictions"]) == 2
    # an empty batch: its manifest lists no slice
    run_id = "20261129T000000-00000c11"
    deployed.client("s3").put_object(
        Bucket=deployed.outputs.batch_bucket, Key=manifest_key(run_id), Body=b"[]"
    )
    started = subprocess.run(
        [
            *aws,
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            deployed.outputs.state_machine_arn,
            "--input",
            json.dumps(
                {
                    "manifest_key": manifest_key(run_id),
                    "run_id": run_id,
                    "function_version": "live",  # a version or an alias (ops passes a version)
                }
            ),
        ],
        env=deployed.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    arn = json.loads(started.stdout)["executionArn"]
    sfn = deployed.client("stepfunctions")
    for _ in range(100):
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.1)
    assert status == "SUCCEEDED"
    # its output is where the Distributed Map wrote its results, never the results themselves
    assert "ResultWriterDetails" in json.loads(sfn.describe_execution(executionArn=arn)["output"])


def test_server_management(tmp_path: Path) -> None:
    # GIVEN a second local target on its own port
    port = free_port()
    started = process.ensure_running(port, tmp_path)
    try:
        # THEN ensure_running is idempotent, status reports it, a second start is refused
        assert process.ensure_running(port, tmp_path).pid == started.pid
        assert process.status(port, tmp_path).running
        with pytest.raises(LocalTargetError, match="already runs"):
            process.start(port, tmp_path)
        assert (tmp_path / "server.json").is_file() and (tmp_path / "server.log").is_file()
    finally:
        process.stop(port, tmp_path)
    assert not process.status(port, tmp_path).running


def test_port_taken_gives_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalTargetError, match=f"port {port} on 127.0.0.1 is taken"):
            process.start(port, tmp_path)
