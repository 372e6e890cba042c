"""The docker-less Lambda runtime: warm environments, timeouts, crashes, errors, Event, pool."""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reintento_local import function_env
from reintento_local.errors import ImageBuildError
from reintento_local.images import build_image, register_image
from tests.integration.conftest import Deployed

PROBE = """
import os, sys, time
CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "exit" in event:
        os._exit(event["exit"])
    if "raise" in event:
        raise ValueError(event["raise"])
    if "import" in event:
        __import__(event["import"])
        return {"imported": event["import"]}
    if "peek" in event:  # what this function's code can read of the machine
        found = {}
        for path in event["peek"]:
            try:
                found[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
            except OSError as err:
                found[path] = None
        with open("/tmp/scratch", "w") as f:
            f.write("ok")
        return {"found": found, "tmp": open("/tmp/scratch").read(), "cwd": os.getcwd()}
    if "python" in event:
        return {"version": list(sys.version_info[:3]), "prefix": sys.prefix}
    print("probe says hi")
    return {"calls": CALLS, "pid": os.getpid(), "env": os.environ.get("PROBE_VAR"),
            "remaining_ms": context.get_remaining_time_in_millis()}
"""


@pytest.fixture(scope="module")
def probe(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> str:
    """GIVEN a tiny image function (2 s timeout, 2 environments) created through the API."""
    context = tmp_path_factory.mktemp("probe-image")
    (context / "Dockerfile").write_text(
        "FROM public.ecr.aws/lambda/python:3.12.2025.11.19.14\n"
        "COPY app.py ${LAMBDA_TASK_ROOT}/\n"
        'CMD ["app.handler"]\n'
    )
    (context / "app.py").write_text(PROBE)
    built = build_image(context, deployed.settings.state_dir / "images", "probe1")
    register_image(deployed.client("ecr"), "probe", "probe1", built)
    iam = deployed.client("iam")
    role = iam.create_role(
        RoleName="probe-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    lam = deployed.client("lambda")
    lam.create_function(
        FunctionName="probe",
        Role=role["Role"]["Arn"],
        PackageType="Image",
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/probe:probe1"},
        Timeout=2,
        Environment={"Variables": {"PROBE_VAR": "set"}},
    )
    lam.put_function_concurrency(FunctionName="probe", ReservedConcurrentExecutions=2)
    return "probe"


def _invoke(deployed: Deployed, event: dict[str, Any], **kw: Any) -> tuple[dict[str, Any], Any]:
    response = deployed.client("lambda").invoke(
        FunctionName="probe", Payload=json.dumps(event), **kw
    )
    return json.loads(response["Payload"].read() or b"{}"), response


def test_warm_environment_keeps_module_state(deployed: Deployed, probe: str) -> None:
    first, _ = _invoke(deployed, {})
    second, _ = _invoke(deployed, {})
    assert second["pid"] == first["pid"] and second["calls"] == first["calls"] + 1
    assert first["env"] == "set" and 0 < first["remaining_ms"] <= 2000


def test_handler_error_in_lambda_format(deployed: Deployed, probe: str) -> None:
    body, response = _invoke(deployed, {"raise": "boom"}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom"
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "REPORT RequestId:" in tail and "END RequestId:" in tail


def test_timeout_is_sandbox_timedout_and_environment_replaced(
    deployed: Deployed, probe: str
) -> None:
    body, response = _invoke(deployed, {"sleep": 5})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    after, response = _invoke(deployed, {})
    assert "FunctionError" not in response and after["calls"] >= 1


def test_crash_is_runtime_exit_error_and_next_call_is_a_cold_start(
    deployed: Deployed, probe: str
) -> None:
    body, response = _invoke(deployed, {"exit": 3})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError" and "exit status 3" in body["errorMessage"]
    after, _ = _invoke(deployed, {})
    assert after["calls"] >= 1


def test_event_invocation_returns_202_and_runs(deployed: Deployed, probe: str) -> None:
    lam = deployed.client("lambda")
    response = lam.invoke(FunctionName="probe", InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202
    logs = deployed.client("logs")
    group = lam.get_function_configuration(FunctionName="probe")["LoggingConfig"]["LogGroup"]
    deadline = time.time() + 20
    while time.time() < deadline:
        found = logs.filter_log_events(logGroupName=group, filterPattern="probe says hi")["events"]
        if found:
            break
        time.sleep(0.2)
    assert found


def test_more_calls_than_environments_queue_without_deadlock(
    deployed: Deployed, probe: str
) -> None:
    # GIVEN 2 environments (reserved concurrency) and 6 concurrent calls of 0.5 s
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def call() -> None:
        body, _ = _invoke(deployed, {"sleep": 0.5})
        with lock:
            results.append(body)

    threads = [threading.Thread(target=call) for _ in range(6)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # THEN all 6 are answered, by at most 2 environments, in about 3 rounds
    assert len(results) == 6 and all("pid" in r for r in results)
    assert len({r["pid"] for r in results}) <= 2
    assert time.monotonic() - started >= 1.4


def test_non_json_payload_is_refused_like_lambda(deployed: Deployed, probe: str) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        deployed.client("lambda").invoke(FunctionName="probe", Payload=b"{not json")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_an_unresolvable_dependency_fails_the_build(tmp_path: Path) -> None:
    # GIVEN an image whose requirements name a package that does not exist
    (tmp_path / "Dockerfile").write_text(
        "FROM public.ecr.aws/lambda/python:3.12.2025.11.19.14\n"
        "COPY requirements.txt ${LAMBDA_TASK_ROOT}/\n"
        "RUN pip install -r ${LAMBDA_TASK_ROOT}/requirements.txt\n"
        'CMD ["app.handler"]\n'
    )
    (tmp_path / "requirements.txt").write_text("no-such-package-xyz-reintento==1.0\n")
    # THEN the local build fails as `docker build` would, naming the package and the fix
    with pytest.raises(ImageBuildError) as caught:
        build_image(tmp_path, tmp_path / "images", "t1")
    assert "no-such-package-xyz-reintento" in str(caught.value)
    assert "make lock" in str(caught.value)
    assert not (tmp_path / "images" / "t1").exists()
    # AND no half-built environment is left to be taken for a built one
    root = function_env.cache_root()
    assert all((p / function_env.COMPLETE).is_file() for p in root.iterdir() if p.is_dir())


def test_the_function_runs_in_the_images_environment_not_the_projects(
    deployed: Deployed, probe: str
) -> None:
    # GIVEN the probe image, which installs nothing beyond the base image
    # WHEN it imports what the project has but the image does not
    for module in ("sklearn", "ops", "moto"):
        answer, response = _invoke(deployed, {"import": module})
        # THEN it fails as on AWS
        assert response.get("FunctionError"), module
        assert answer["errorType"] == "ModuleNotFoundError", answer
    # AND its Python is the base image's minor version, which is the project's, from its own
    # environment (not the project's virtual environment)
    answer, _ = _invoke(deployed, {"python": True})
    assert tuple(answer["version"][:2]) == (3, 12) == sys.version_info[:2]
    assert answer["prefix"] != sys.prefix
    # AND the runtime interface client the base image carries is there
    answer, response = _invoke(deployed, {"import": "awslambdaric"})
    assert not response.get("FunctionError") and answer["imported"] == "awslambdaric"


def test_a_published_version_keeps_its_code_when_latest_changes(
    deployed: Deployed, probe: str, tmp_path: Path
) -> None:
    # GIVEN version N published from the probe's image
    lam = deployed.client("lambda")
    lam.update_function_configuration(FunctionName=probe, Description="before the new image")
    lam.get_waiter("function_updated_v2").wait(FunctionName=probe)
    version = lam.publish_version(FunctionName=probe)["Version"]
    lam.get_waiter("function_active_v2").wait(
        FunctionName=probe, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    # WHEN $LATEST gets another image (a redeploy: UpdateFunctionCode)
    other = tmp_path / "other-image"
    other.mkdir()
    (other / "Dockerfile").write_text(
        "FROM public.ecr.aws/lambda/python:3.12.2025.11.19.14\n"
        "COPY app.py ${LAMBDA_TASK_ROOT}/\n"
        'CMD ["app.handler"]\n'
    )
    (other / "app.py").write_text("def handler(event, context):\n    return {'image': 'other'}\n")
    built = build_image(other, deployed.settings.state_dir / "images", "probe2")
    register_image(deployed.client("ecr"), "probe", "probe2", built)
    lam.update_function_code(
        FunctionName=probe,
        ImageUri="123456789012.dkr.ecr.us-east-1.amazonaws.com/probe:probe2",
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=probe)
    try:
        # THEN the published version still has, and runs, the image it was published with
        # (Lambda: a published version's code cannot change)
        published = lam.get_function(FunctionName=probe, Qualifier=version)
        assert published["Code"]["ImageUri"].endswith(":probe1")
        answer, _ = _invoke(deployed, {}, Qualifier=version)
        assert answer.get("calls") is not None  # the probe's handler, not the other image's
        latest, _ = _invoke(deployed, {})
        assert latest == {"image": "other"}
    finally:
        lam.update_function_code(
            FunctionName=probe,
            ImageUri="123456789012.dkr.ecr.us-east-1.amazonaws.com/probe:probe1",
        )
        lam.get_waiter("function_updated_v2").wait(FunctionName=probe)


def test_a_function_reads_nothing_of_the_operator_or_the_local_target(
    deployed: Deployed, probe: str
) -> None:
    # GIVEN a file in the operator's home, and the local target's key and log in its state folder
    state = deployed.settings.state_dir
    secret = Path.home() / f".reintento-sandbox-probe-{os.getpid()}"
    secret.write_text("the operator's")
    try:
        peek = [
            str(secret),
            str(Path.home() / ".aws"),
            str(state),
            str(state / "credentials.json"),
            str(state / "server.log"),
            str(Path(__file__).resolve().parents[2]),  # the project, with its .venv
            "/proc/self/environ",
            "/etc/shadow",
        ]
        # WHEN the function's handler tries to read them
        answer, _ = _invoke(deployed, {"peek": peek})
    finally:
        secret.unlink()
    # THEN it gets none of them, while its own /tmp is writable and it runs in its code's folder
    assert answer["found"] == dict.fromkeys(peek), answer["found"]
    assert answer["tmp"] == "ok"
    assert answer["cwd"] == "/var/task"  # as on Lambda
    # AND the local target says its functions are sandboxed
    from ops import local_status

    assert local_status(settings=deployed.settings).sandbox == "on"
