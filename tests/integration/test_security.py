"""Security of the local target, reproduced over HTTP: each test shows a finding of the security
review refused (SECURITY.md lists them with these tests)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import ops
from reintento_local import process
from reintento_local.process import LocalTargetStatus
from tests.integration.conftest import OPERATOR_ENVIRONMENT, Deployed, role_credentials


def _send(
    url: str, *, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _signed_headers(
    deployed: Deployed, url: str, method: str, body: bytes, secret: str | None = None
) -> dict[str, str]:
    creds = Credentials(
        deployed.operator.access_key_id, secret or deployed.operator.secret_access_key
    )
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(creds, "lambda", deployed.settings.region).add_auth(request)
    return dict(request.headers.items())


def test_unsigned_requests_are_refused(deployed: Deployed) -> None:
    # GIVEN the running local target; WHEN a client with no credentials calls it
    base = deployed.endpoint
    for method, path, body in (
        ("GET", "/moto-api/data.json", b""),  # moto's dashboard data: every resource
        ("POST", "/moto-api/reset", b""),
        ("GET", "/2015-03-31/functions/", b""),
        ("POST", "/", b"Action=ListBuckets"),
    ):
        status, text = _send(base + path, method=method, body=body)
        # THEN it is refused before moto sees it
        assert status == 403, (path, status, text)
        assert "MissingAuthenticationToken" in text
    # AND the health check answers, telling nothing else
    status, text = _send(base + "/_reintento/health")
    assert status == 200 and json.loads(text) == {"service": "reintento-local-target"}


def test_a_key_the_server_did_not_issue_is_refused(deployed: Deployed) -> None:
    # GIVEN the old fixed test key, and the right key with a wrong secret
    for key, secret in (("local", "local"), (deployed.operator.access_key_id, "wrong-secret")):
        s3 = deployed.client("s3", key=key, secret=secret)
        # WHEN they call the local target THEN they are refused as AWS refuses them
        with pytest.raises(ClientError) as caught:
            s3.list_buckets()
        assert caught.value.response["Error"]["Code"] in {
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
        }
    # AND the per-start key works (the same call AWS would allow)
    assert "Buckets" in deployed.client("s3").list_buckets()


def test_browser_origin_and_foreign_host_are_refused(deployed: Deployed) -> None:
    url = f"{deployed.endpoint}/2015-03-31/functions/"
    good = _signed_headers(deployed, url, "GET", b"")
    # GIVEN a correctly signed request: it passes
    assert _send(url, headers=good)[0] == 200
    # WHEN a web page sends it (an Origin header) THEN it is refused: no CORS
    status, text = _send(url, headers={**good, "Origin": "https://evil.example"})
    assert status == 403 and "Origin" in text
    # WHEN a DNS-rebinding page sends it under its own host name THEN it is refused
    status, text = _send(
        url, headers={**good, "Host": f"evil.example:{deployed.settings.local_port}"}
    )
    assert status == 403 and "RequestRefused" in text


def test_a_tampered_body_or_old_signature_is_refused(deployed: Deployed) -> None:
    lam = deployed.client("lambda")
    # GIVEN a valid signed request; WHEN it is replayed 20 minutes later THEN it is refused
    url = f"{deployed.endpoint}/2015-03-31/functions/"
    request = AWSRequest(method="GET", url=url)
    request.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 1200))
    creds = Credentials(deployed.operator.access_key_id, deployed.operator.secret_access_key)
    auth = SigV4Auth(creds, "lambda", deployed.settings.region)
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    signature = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    auth._inject_signature_to_request(request, signature)
    status, text = _send(url, headers=dict(request.headers.items()))
    assert status == 403 and "RequestTimeTooSkewed" in text
    # AND a signed body that was changed on the way is refused
    body = b'{"instances": []}'
    invoke = (
        f"{deployed.endpoint}/2015-03-31/functions/{deployed.outputs.function_name}/invocations"
    )
    headers = _signed_headers(deployed, invoke, "POST", body)
    status, text = _send(invoke, method="POST", body=b'{"instances": [1]}', headers=headers)
    assert status == 403 and "SignatureDoesNotMatch" in text
    assert lam.list_functions()["Functions"]


def test_a_body_its_signature_does_not_bind_is_refused(deployed: Deployed) -> None:
    """#29: a correctly signed S3 PutObject declaring ``UNSIGNED-PAYLOAD`` (or a streaming,
    ``aws-chunked`` value) was stored: its headers, replayed with any body, would have written
    that body. Over this plain-HTTP endpoint every client signs the body's SHA-256."""
    s3 = deployed.client("s3")
    bucket = deployed.outputs.batch_bucket
    creds = Credentials(deployed.operator.access_key_id, deployed.operator.secret_access_key)
    for value in ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"):

        class _Declared(S3SigV4Auth):
            def payload(self, request: AWSRequest, declared: str = value) -> str:
                return declared

        key = f"unbound/{value}.txt"
        url = f"{deployed.endpoint}/{bucket}/{key}"
        request = AWSRequest(method="PUT", url=url, data=b"any body")
        _Declared(creds, "s3", deployed.settings.region).add_auth(request)
        status, text = _send(url, method="PUT", body=b"any body", headers=dict(request.headers))
        assert status == 403 and "x-amz-content-sha256" in text, text
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)
    # AND the same object with its body's hash signed, as boto3 sends it, is stored
    s3.put_object(Bucket=bucket, Key="unbound/signed.txt", Body=b"any body")
    assert s3.get_object(Bucket=bucket, Key="unbound/signed.txt")["Body"].read() == b"any body"


def _environ(pid: int) -> str:
    return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode(errors="replace")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def test_server_and_functions_never_see_the_operators_keys(deployed: Deployed) -> None:
    # GIVEN the local target was started from a shell holding the operator's real AWS keys
    # (tests/integration/conftest.py) and the function has warm environments
    assert ops.predict(ops.sample_rows(2), settings=deployed.settings)
    server = ops.local_status(settings=deployed.settings).pid
    assert server is not None
    functions = _children(server)
    assert functions, "no execution environment is running"
    for pid in (server, *functions):
        environ = _environ(pid)
        # THEN none of them has any of those values
        for value in OPERATOR_ENVIRONMENT.values():
            assert value not in environ, (pid, value)
        # AND HOME is inside the private state folder (no ~/.aws/credentials to read), or for
        # a function, in its sandbox's own /tmp
        home = next(line for line in environ.splitlines() if line.startswith("HOME="))
        private = deployed.settings.state_dir / "home" if pid == server else "/tmp"
        assert home == f"HOME={private}"
    # AND a function holds its role's temporary credentials only
    assert "AWS_ACCESS_KEY_ID=ASIA" in _environ(functions[0])


def test_a_function_runs_only_code_that_deploy_built(deployed: Deployed, tmp_path: Path) -> None:
    # GIVEN a folder with a handler that would leave a mark, and an image in the registry whose
    # annotation names that folder (what the review reproduced, now even with valid credentials)
    evil = tmp_path / "evil"
    evil.mkdir()
    mark = tmp_path / "ran"
    (evil / "Dockerfile").write_text('FROM scratch\nCMD ["evil.handler"]\n')
    (evil / "evil.py").write_text(
        f"from pathlib import Path\ndef handler(event, context):\n    Path({str(mark)!r}).touch()\n"
    )
    ecr, lam = deployed.client("ecr"), deployed.client("lambda")
    ecr.create_repository(repositoryName="evil")
    from reintento_local.images import image_manifest

    ecr.put_image(repositoryName="evil", imageManifest=image_manifest("v1", evil), imageTag="v1")
    role = lam.get_function_configuration(FunctionName=deployed.outputs.function_name)["Role"]
    uri = f"123456789012.dkr.ecr.{deployed.settings.region}.amazonaws.com/evil:v1"
    lam.create_function(FunctionName="evil", Role=role, Code={"ImageUri": uri}, PackageType="Image")
    # WHEN it is invoked
    answer = lam.invoke(FunctionName="evil", Payload=b"{}")
    body = json.loads(answer["Payload"].read())
    # THEN it fails as a broken deployment and the code never ran
    assert answer.get("FunctionError") and "not built by `ops deploy`" in body["errorMessage"]
    assert not mark.exists()
    lam.delete_function(FunctionName="evil")


def test_state_folder_and_its_secrets_are_private(deployed: Deployed) -> None:
    state = deployed.settings.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("credentials.json", "server.json", "server.log"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name


def test_stop_never_signals_a_process_that_is_not_our_server(tmp_path: Path) -> None:
    # GIVEN a state folder whose recorded pid now belongs to another program
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "server.json").write_text(json.dumps({"pid": other.pid, "port": 1}))
        # WHEN the local target is stopped
        stopped = process.stop(1, tmp_path)
        # THEN that program is untouched, and the stale record is gone
        assert isinstance(stopped, LocalTargetStatus) and not stopped.running
        time.sleep(0.2)
        assert other.poll() is None
        assert not (tmp_path / "server.json").exists()
    finally:
        other.kill()
        other.wait()


def test_local_status_prints_exports_that_the_aws_cli_can_use(deployed: Deployed) -> None:
    # GIVEN the exports `python -m ops local status` prints
    done = subprocess.run(
        [sys.executable, "-m", "ops", "local", "status"],
        env=deployed.env,
        capture_output=True,
        text=True,
        check=True,
    )
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in done.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exports["AWS_ENDPOINT_URL"] == deployed.endpoint
    # WHEN a client uses them THEN the local target answers it
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    client: Any = boto3.client(
        "lambda",
        endpoint_url=exports["AWS_ENDPOINT_URL"],
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        region_name=exports["AWS_DEFAULT_REGION"],
    )
    del env
    names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    assert deployed.outputs.function_name in names


def test_motos_own_api_is_refused_even_to_signed_callers(deployed: Deployed) -> None:
    # GIVEN the function role's temporary credentials, and the operator's key
    lam = deployed.client("lambda")
    role = lam.get_function_configuration(FunctionName=deployed.outputs.function_name)["Role"]
    creds = role_credentials(deployed, role, "probe")
    role_keys = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    operator = Credentials(deployed.operator.access_key_id, deployed.operator.secret_access_key)
    for credentials in (role_keys, operator):
        for method, path in (
            ("POST", "/moto-api/reset"),
            ("GET", "/moto-api/data.json"),
            ("POST", "/moto-api/recorder/replay-recording"),
        ):
            # WHEN they call moto's own API, correctly signed
            request = AWSRequest(method=method, url=deployed.endpoint + path, data=b"")
            SigV4Auth(credentials, "lambda", deployed.settings.region).add_auth(request)
            status, text = _send(
                deployed.endpoint + path, method=method, headers=dict(request.headers.items())
            )
            # THEN it is refused (403), and nothing was reset: the stack still answers
            assert status == 403, (path, status, text)
            assert "moto" in text
    assert lam.get_function_configuration(FunctionName=deployed.outputs.function_name)["State"]


def _raw(deployed: Deployed, head: bytes, body: bytes = b"") -> tuple[int, str]:
    """Send exactly these request bytes (headers a client library would not send)."""
    import socket
    from urllib.parse import urlparse

    where = urlparse(deployed.endpoint)
    with socket.create_connection((where.hostname, where.port), timeout=10) as conn:
        conn.sendall(head + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.decode(errors="replace")


def test_a_signature_must_cover_the_host_the_date_and_the_body_before_it_is_read(
    deployed: Deployed,
) -> None:
    """#29: the gate accepted a signature whose SignedHeaders left out x-amz-date (the 15-minute
    window then bound nothing), answered 500 when they left out host, and read any body before
    checking the signature (400 MB: +400 MB resident)."""
    url = f"{deployed.endpoint}/2015-03-31/functions/"
    creds = Credentials(deployed.operator.access_key_id, deployed.operator.secret_access_key)
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(creds, "lambda", deployed.settings.region).add_auth(request)
    headers = dict(request.headers.items())
    for left_out in ("x-amz-date", "host"):
        # GIVEN a correctly computed signature whose SignedHeaders leave one of them out
        signed = headers["Authorization"].replace(f"{left_out};", "").replace(f";{left_out}", "")
        status, text = _send(url, headers={**headers, "Authorization": signed})
        # THEN it is refused, 403 IncompleteSignature, never a 500
        assert status == 403 and "IncompleteSignature" in text, (left_out, status, text)
    # AND a request announcing a body over what the service takes is refused from its
    # Content-Length, before a byte of it is sent
    port = deployed.endpoint.rsplit(":", 1)[1]
    head = (
        f"POST /2015-03-31/functions/x/invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {headers['Authorization']}\r\nX-Amz-Date: {headers['X-Amz-Date']}\r\n"
        f"Content-Length: {400 * 1024**2}\r\nConnection: close\r\n\r\n"
    ).encode()
    status, text = _raw(deployed, head)
    assert status == 413 and "RequestEntityTooLarge" in text, text[:300]


# Another local user's probe of every listening loopback port, as the security review ran it:
# find them in the world-readable /proc/net/tcp, ask each for the next Lambda invocation, and
# post a forged answer for any request id it reads (and for a guessed one).
PROBE = r"""
import json, socket, sys, time
until = time.time() + float(sys.argv[1])
seen, forged = [], []
def ask(port, request):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.5) as s:
            s.sendall(request)
            return s.recv(65536).decode(errors="replace")
    except OSError as err:
        return "error: " + type(err).__name__
while time.time() < until:
    ports = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[1].startswith("0100007F:"):
            ports.add(int(fields[1].split(":")[1], 16))
    for port in sorted(ports):
        answer = ask(port, b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        if "Lambda-Runtime-Aws-Request-Id" in answer:
            seen.append(answer[:300])
            request_id = answer.split("Lambda-Runtime-Aws-Request-Id: ")[1].split("\r\n")[0]
        else:
            request_id = "guessed-request-id"
        body = b'{"predictions": [1337], "model_version": "FORGED"}'
        answer = ask(port, b"POST /2018-06-01/runtime/invocation/" + request_id.encode()
                     + b"/response HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        if answer.startswith("HTTP/1.1 202"):
            forged.append(port)
print(json.dumps({"seen": seen, "forged": forged}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_another_user_reads_no_invocation_and_forges_no_answer(deployed: Deployed) -> None:
    # GIVEN warm execution environments (their Runtime API ports listen on loopback)
    rows = ops.sample_rows(2)
    ops.predict(rows, settings=deployed.settings)
    # WHEN another user (nobody, who cannot read the state folder) probes every loopback port
    # while the operator makes calls
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    probe = subprocess.Popen(
        [python, "-c", PROBE, "12"],
        stdout=subprocess.PIPE,
        text=True,
        user=65534,
        group=65534,
        cwd="/",
    )
    answers = []
    deadline = time.time() + 10
    while time.time() < deadline:
        answers.append(ops.predict(rows, settings=deployed.settings))
    out, _ = probe.communicate(timeout=60)
    found = json.loads(out)
    # THEN it read no invocation and no forged answer was accepted
    assert found == {"seen": [], "forged": []}
    # AND every call got the model's own answers
    assert len(answers) >= 8
    assert all(a.model_version == deployed.model_version for a in answers)
    assert all(1337 not in list(a.predictions) for a in answers)


def test_duplicate_keys_are_refused_where_the_function_parses_and_last_wins_where_lambda_does(
    deployed: Deployed,
) -> None:
    lam = deployed.client("lambda")
    row = ops.sample_rows(1)[0]
    feature, value = next(iter(row.items()))
    rest = json.dumps(row)[1:-1]
    # a row whose first feature appears twice: first a value the model refuses, then its own
    duplicated = "{" + f'"{feature}": "not a value", ' + rest + "}"
    text = '{"instances": [' + duplicated + "]}"

    def invoke(payload: bytes) -> dict[str, Any]:
        answer = lam.invoke(
            FunctionName=deployed.outputs.function_name, Qualifier="live", Payload=payload
        )
        return dict(json.loads(answer["Payload"].read()))

    # GIVEN the request as a body string (an API-style event): the function parses it itself
    # THEN the duplicate key is refused as invalid input, naming it
    refused = invoke(json.dumps({"body": text}).encode())
    assert refused["error"]["type"] == "InvalidInput"
    assert "duplicate key" in json.dumps(refused["error"])
    # GIVEN the same request as the invoke payload itself: the Lambda runtime parses it before
    # the function sees it (on AWS too), keeping the last value of a duplicated key
    answered = invoke(text.encode())
    # THEN the row is predicted from its last value (what SECURITY.md says)
    single = invoke(json.dumps({"instances": [row]}).encode())
    assert "error" not in answered and answered["predictions"] == single["predictions"]
    assert value == row[feature]
