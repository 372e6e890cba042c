"""The local target's front door, as pure code: which requests it lets through."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from reintento_local.gate import RefusedError, Secret, check_request, loopback_host

PORT = 4566
KEY, SECRET = "AKIATESTTESTTESTTEST", "secret"


def _environ(request: AWSRequest, body: bytes = b"") -> dict[str, Any]:
    path, _, query = request.url.split(f":{PORT}", 1)[1].partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": path,
        "RAW_URI": path + ("?" + query if query else ""),
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in request.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.setdefault("HTTP_HOST", f"127.0.0.1:{PORT}")
    return environ


def _signed(
    service: str = "lambda", body: bytes = b"", url: str | None = None, secret: str = SECRET
) -> AWSRequest:
    request = AWSRequest(
        method="POST" if body else "GET",
        url=url or f"http://127.0.0.1:{PORT}/2015-03-31/functions/?MaxItems=5",
        data=body,
    )
    auth_class = S3SigV4Auth if service == "s3" else SigV4Auth
    auth_class(Credentials(KEY, secret), service, "us-east-1").add_auth(request)
    return request


def _secrets(key: str) -> Secret | None:
    return Secret(SECRET) if key == KEY else None


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        (f"127.0.0.1:{PORT}", True),
        (f"localhost:{PORT}", True),
        (f"[::1]:{PORT}", True),
        (f"bucket.localhost:{PORT}", True),
        (f"127.0.0.1:{PORT + 1}", False),
        ("127.0.0.1", False),
        (f"evil.example:{PORT}", False),
        (f"localhost.evil.example:{PORT}", False),
        (f"10.0.0.1:{PORT}", False),
    ],
)
def test_only_loopback_hosts(host: str, ok: bool) -> None:
    assert loopback_host(host, PORT) is ok


def test_a_signed_request_passes_and_its_body_stays_readable() -> None:
    body = b'{"instances": []}'
    url = f"http://127.0.0.1:{PORT}/2015-03-31/functions/f/invocations"
    environ = _environ(_signed(body=body, url=url), body)
    check_request(environ, PORT, _secrets)
    assert environ["wsgi.input"].read() == body


def test_s3_signing_with_a_payload_hash_passes() -> None:
    url = f"http://127.0.0.1:{PORT}/bucket/key%20with%20space.txt"
    body = b"data"
    check_request(_environ(_signed("s3", body, url), body), PORT, _secrets)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda e: e.pop("HTTP_AUTHORIZATION"), "MissingAuthenticationToken"),
        (lambda e: e.update(HTTP_ORIGIN="https://evil.example"), "RequestRefused"),
        (lambda e: e.update(HTTP_HOST=f"evil.example:{PORT}"), "RequestRefused"),
        (lambda e: e.update(QUERY_STRING="MaxItems=6"), "SignatureDoesNotMatch"),
        (lambda e: e.update(HTTP_X_AMZ_DATE="20200101T000000Z"), "RequestTimeTooSkewed"),
        (
            lambda e: e.update(HTTP_AUTHORIZATION=e["HTTP_AUTHORIZATION"].replace(KEY, "AKIAX")),
            "InvalidClientTokenId",
        ),
    ],
)
def test_refusals(change: Any, code: str) -> None:
    environ = _environ(_signed())
    change(environ)
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.code == code and refused.value.status == 403


def test_wrong_secret_and_missing_session_token_are_refused() -> None:
    with pytest.raises(RefusedError, match="signature"):
        check_request(_environ(_signed(secret="wrong")), PORT, _secrets)

    def role(key: str) -> Secret | None:
        return Secret(SECRET, session_token="token") if key == KEY else None

    with pytest.raises(RefusedError, match="security token"):
        check_request(_environ(_signed()), PORT, role)


def test_a_body_changed_after_signing_is_refused() -> None:
    url = f"http://127.0.0.1:{PORT}/bucket/key"
    environ = _environ(_signed("s3", b"original", url), b"changed!")
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.code == "XAmzContentSHA256Mismatch"


def test_skew_window_is_fifteen_minutes() -> None:
    environ = _environ(_signed())
    check_request(environ, PORT, _secrets, now=lambda: time.time() + 14 * 60)
    with pytest.raises(RefusedError, match="15 minutes"):
        check_request(_environ(_signed()), PORT, _secrets, now=lambda: time.time() + 16 * 60)


def _signed_only(signed_headers: list[str], *, scope_date: str | None = None) -> dict[str, Any]:
    """A request whose signature is right for exactly ``signed_headers`` (a client may choose
    them; AWS says which it must include)."""
    from reintento_local.gate import expected_signature

    environ = _environ(_signed())
    headers = {"host": environ["HTTP_HOST"], "x-amz-date": environ["HTTP_X_AMZ_DATE"]}
    signature = "0" * 64  # botocore cannot sign without the host: any signature then
    if "host" in signed_headers:
        signature = expected_signature(
            method="GET",
            path=environ["PATH_INFO"],
            query=environ["QUERY_STRING"],
            headers=headers,
            signed_headers=signed_headers,
            body=b"",
            service="lambda",
            region="us-east-1",
            key=KEY,
            secret=SECRET,
            session_token=None,
        )
    date = scope_date or headers["x-amz-date"][:8]
    environ["HTTP_AUTHORIZATION"] = (
        f"AWS4-HMAC-SHA256 Credential={KEY}/{date}/us-east-1/lambda/aws4_request, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )
    return environ


@pytest.mark.parametrize("signed_headers", [["x-amz-date"], ["host"]])
def test_host_and_the_date_must_be_signed(signed_headers: list[str]) -> None:
    # GIVEN a request signed without its host (DNS rebinding could reuse it) or without its date
    # (the 15-minute window would not bind it); AWS refuses both ("Create a signed AWS API
    # request", IAM User Guide)
    environ = _signed_only(signed_headers)
    # WHEN the gate checks it THEN it is refused with a 403, never a 500
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.status == 403 and refused.value.code == "IncompleteSignature"
    # AND the same request signed over both passes
    check_request(_signed_only(["host", "x-amz-date"]), PORT, _secrets)


def test_the_credential_scope_date_is_the_request_date() -> None:
    environ = _signed_only(["host", "x-amz-date"], scope_date="20200101")
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.status == 403 and refused.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("path", ["/moto-api/reset", "/moto-api/data.json", "/moto-api/"])
def test_motos_own_api_is_refused_to_every_caller(path: str) -> None:
    # GIVEN a request correctly signed by a known key, to moto's own API (reset, recorder,
    # state dump): not an AWS API
    url = f"http://127.0.0.1:{PORT}{path}"
    environ = _environ(_signed(body=b"x", url=url), b"x")
    # THEN it is refused all the same
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.status == 403 and "moto" in refused.value.message


def test_an_error_while_checking_is_a_403_never_a_500() -> None:
    from reintento_local.gate import Gate

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"served"]

    def broken_secrets(key: str) -> Secret | None:
        raise OSError("the credentials file could not be read")

    seen: list[str] = []
    body = Gate(app, PORT, broken_secrets)(_environ(_signed()), lambda s, h: seen.append(s))
    assert seen == ["403 Forbidden"] and b"served" not in b"".join(body)


def test_temporary_credentials_stop_working_when_they_expire() -> None:
    # GIVEN temporary credentials that expire in ten minutes
    expires = time.time() + 600

    def temporary(key: str) -> Secret | None:
        return Secret(SECRET, session_token="token", expires_at=expires) if key == KEY else None

    def signed() -> dict[str, Any]:
        request = AWSRequest(method="GET", url=f"http://127.0.0.1:{PORT}/2015-03-31/functions/")
        SigV4Auth(Credentials(KEY, SECRET, "token"), "lambda", "us-east-1").add_auth(request)
        return _environ(request)

    # THEN they work until then
    check_request(signed(), PORT, temporary, now=lambda: expires - 1)
    # AND a request signed with them after their expiration is refused, as AWS refuses it
    environ = signed()
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, temporary, now=lambda: expires + 1)
    assert refused.value.status == 403 and refused.value.code == "ExpiredToken"


class _Unreadable(io.BytesIO):
    """A body the gate must not read (a client could send gigabytes, or nothing, slowly)."""

    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body was read")


@pytest.mark.parametrize(
    ("service", "length", "limit"),
    [("lambda", 70 * 1024**2 + 1, "70 MiB"), ("sts", 10 * 1024**2 + 1, "10 MiB")],
)
def test_a_body_over_its_services_limit_is_refused_before_it_is_read(
    service: str, length: int, limit: str
) -> None:
    """#29: the gate buffered any body before checking its signature (400 MB: +400 MB
    resident). A body over what the service takes is refused from its Content-Length."""
    environ = _environ(_signed(service, body=b"x"), b"x")
    environ["CONTENT_LENGTH"] = str(length)
    environ["wsgi.input"] = _Unreadable()
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.status == 413 and refused.value.code == "RequestEntityTooLarge"
    assert limit in refused.value.message


def test_a_chunked_body_is_read_only_up_to_its_services_limit() -> None:
    environ = _environ(_signed("sts", body=b"x"), b"x")
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    environ["wsgi.input"] = io.BytesIO(b"y" * (10 * 1024**2 + 5))
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.status == 413
    assert environ["wsgi.input"].tell() <= 10 * 1024**2 + 1  # never more than the limit + 1


def test_connections_that_send_nothing_are_closed_after_a_while() -> None:
    """#29: a half-sent request held its server thread forever."""
    from reintento_local.server import REQUEST_TIMEOUT_SECONDS, _quiet_request_handler

    assert _quiet_request_handler().timeout == REQUEST_TIMEOUT_SECONDS <= 60


def _s3_put(body: bytes, content_hash: str | None = None) -> AWSRequest:
    """A signed S3 PutObject whose ``x-amz-content-sha256`` is ``content_hash`` (botocore's
    own, the body's SHA-256, when None): a client may choose the value and sign it."""

    class _Chosen(S3SigV4Auth):
        def payload(self, request: AWSRequest) -> str:
            return content_hash if content_hash is not None else str(super().payload(request))

    request = AWSRequest(method="PUT", url=f"http://127.0.0.1:{PORT}/bucket/key", data=body)
    _Chosen(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(request)
    return request


@pytest.mark.parametrize(
    ("content_hash", "status", "code"),
    [
        ("UNSIGNED-PAYLOAD", 403, "RequestRefused"),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 403, "RequestRefused"),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", 403, "RequestRefused"),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", 403, "RequestRefused"),
        ("not-a-hash", 400, "InvalidArgument"),
    ],
)
def test_a_body_the_signature_does_not_bind_is_refused(
    content_hash: str, status: int, code: str
) -> None:
    """#29: a correctly signed request whose payload hash is ``UNSIGNED-PAYLOAD`` or a streaming
    (``aws-chunked``) value let anyone holding its headers send any body with them. Over plain
    HTTP, botocore and the CDK CLI's SDK sign the payload's SHA-256 (measured in the CDK
    rehearsal: no request used another value), so this endpoint refuses the others. AWS's own
    answer to a value that is none of them is ``InvalidArgument``
    (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html)."""
    body = b"rows"
    environ = _environ(_s3_put(body, content_hash), body)
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert "x-amz-content-sha256" in refused.value.message


def test_s3_requests_must_sign_their_payload_hash() -> None:
    # GIVEN an S3 request whose signature leaves out its x-amz-content-sha256 header (S3
    # requires it signed: "Signature Calculations for the Authorization Header", S3 API
    # reference, sig-v4-header-based-auth.html)
    body = b"rows"
    request = _s3_put(body)
    auth = request.headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0]
    assert "x-amz-content-sha256" in signed
    request.headers.replace_header(
        "Authorization", auth.replace(signed, signed.replace(";x-amz-content-sha256", ""))
    )
    with pytest.raises(RefusedError) as refused:
        check_request(_environ(request, body), PORT, _secrets)
    assert refused.value.code == "IncompleteSignature"
    assert "x-amz-content-sha256" in refused.value.message


def test_temporary_credentials_must_sign_their_session_token() -> None:
    # GIVEN a request signed by temporary credentials' key, whose session token is sent but
    # left out of the signature (anyone who saw the token could pair it with another request)
    def temporary(key: str) -> Secret | None:
        return Secret(SECRET, session_token="token") if key == KEY else None

    request = AWSRequest(method="GET", url=f"http://127.0.0.1:{PORT}/2015-03-31/functions/")
    SigV4Auth(Credentials(KEY, SECRET), "lambda", "us-east-1").add_auth(request)
    request.headers["X-Amz-Security-Token"] = "token"
    with pytest.raises(RefusedError) as refused:
        check_request(_environ(request), PORT, temporary)
    assert refused.value.code == "IncompleteSignature"
    assert "x-amz-security-token" in refused.value.message


def test_an_s3_signature_is_checked_before_its_body_is_read() -> None:
    # GIVEN an S3 PutObject signed with the wrong secret (its body could be gigabytes)
    request = AWSRequest(method="PUT", url=f"http://127.0.0.1:{PORT}/bucket/key", data=b"x")
    S3SigV4Auth(Credentials(KEY, "wrong"), "s3", "us-east-1").add_auth(request)
    environ = _environ(request, b"x")
    environ["wsgi.input"] = _Unreadable()
    # THEN it is refused on its headers alone: the signed payload hash stands for the body
    with pytest.raises(RefusedError) as refused:
        check_request(environ, PORT, _secrets)
    assert refused.value.code == "SignatureDoesNotMatch"
