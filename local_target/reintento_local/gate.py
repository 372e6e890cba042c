"""The local target's front door: only its own, authenticated clients on loopback get in.

A WSGI layer in front of moto that refuses, before moto sees the request:
- a ``Host`` that is not loopback (a DNS-rebinding page names its own host);
- any request with an ``Origin`` header (browsers send one on cross-site requests; there is no
  CORS here, so a web page cannot reach the local target even with a plain form POST);
- a request not signed with Signature Version 4 by a key the server knows: the per-start
  operator key (``credentials.json`` in the private state folder) or temporary credentials the
  server itself issued (STS ``AssumeRole``, as for a function's role). The signature is
  recomputed with the key's secret, as AWS does, and a request dated more than 15 minutes away
  from the server's clock is refused (``RequestTimeTooSkewed``). See "Authenticating requests
  (AWS Signature Version 4)" in the Amazon S3 API reference and "Signing AWS API requests" in
  the IAM user guide.

Only ``GET /_reintento/health`` answers without a signature, and it tells nothing but liveness.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

HEALTH_PATH = "/_reintento/health"
MAX_SKEW_SECONDS = 15 * 60  # AWS refuses requests signed more than 15 minutes away
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Za-z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9;_.-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# AWS requires host, and x-amz-date when the date is given there (the only way this gate reads
# it), among the signed headers: "Create a signed AWS API request", IAM User Guide,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
REQUIRED_SIGNED_HEADERS = ("host", "x-amz-date")
# The largest request body each service takes (AWS's documented limits); a bigger one is refused
# from its Content-Length before a byte of it is read (the gate holds a body to check its
# signature, so an unbounded one was memory anyone could make it hold).
MAX_BODY_BYTES = {
    # one PutObject: 5 GB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html)
    "s3": 5 * 1024**3,
    # CreateFunction's 50 MB zip, base64 in its JSON; Invoke's 6 MB is Lambda's own check
    # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
    "lambda": 70 * 1024**2,
}
DEFAULT_MAX_BODY_BYTES = 10 * 1024**2  # the JSON and query APIs (their own limits are smaller)
# moto's own API (reset, recorder, state dump): no AWS API, served to nobody
MOTO_API_PREFIX = "/moto-api"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Secret:
    """What verifying a key needs: its secret, and the session token it must come with."""

    secret_access_key: str
    session_token: str | None = None
    expires_at: float | None = None  # temporary credentials: when they stop working (epoch s)


class RefusedError(Exception):
    """A request the gate turns away: HTTP status, AWS error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def loopback_host(host: str, port: int) -> bool:
    """``Host`` names this server on loopback (``*.localhost`` too: it resolves to loopback)."""
    name, sep, given_port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep or given_port != str(port):
        return False
    return name in _LOOPBACK_HOSTS or name.endswith(".localhost")


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _raw_path(environ: dict[str, Any]) -> str:
    raw = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "/")
    if "://" in raw:
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    return raw.split("?", 1)[0] or "/"


def _too_large(limit: int) -> RefusedError:
    return RefusedError(
        413,
        "RequestEntityTooLarge",
        f"the request body is over the {limit / 1024**2:,.0f} MiB this service takes",
    )


def _body(environ: dict[str, Any], limit: int) -> bytes:
    """Read the body once (never more than ``limit`` bytes) and give moto a fresh stream of the
    same bytes."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        if int(length) > limit:
            raise _too_large(limit)
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise _too_large(limit)
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def expected_signature(
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    signed_headers: list[str],
    body: bytes,
    service: str,
    region: str,
    key: str,
    secret: str,
    session_token: str | None,
) -> str:
    """The SigV4 signature AWS would compute for this request (botocore's own canonical form)."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(key, secret, session_token)
    auth_class = S3SigV4Auth if service == "s3" else SigV4Auth
    auth = auth_class(credentials, service, region)
    chosen = {name: headers[name] for name in signed_headers if name in headers}
    url = path + ("?" + query if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=chosen)
    request.context["timestamp"] = chosen.get("x-amz-date", "")
    canonical = auth.canonical_request(request)
    return str(auth.signature(auth.string_to_sign(request, canonical), request))


def check_origin(environ: dict[str, Any], port: int) -> dict[str, str]:
    """Refuse a non-loopback ``Host`` or a browser ``Origin``; return the request's headers."""
    headers = _headers(environ)
    if not loopback_host(headers.get("host", ""), port):
        raise RefusedError(
            403,
            "RequestRefused",
            f"the local target answers only requests to 127.0.0.1:{port} or localhost:{port}",
        )
    if "origin" in headers:
        raise RefusedError(
            403,
            "RequestRefused",
            "requests from a web page (with an Origin header) "
            "are refused: the local target has no CORS",
        )
    return headers


def check_request(
    environ: dict[str, Any],
    port: int,
    secret_for: Callable[[str], Secret | None],
    now: Callable[[], float] = time.time,
) -> None:
    """Raise ``RefusedError`` unless the request is from a signed client on loopback."""
    headers = check_origin(environ, port)
    match = _AUTH.match(headers.get("authorization", ""))
    if match is None:
        raise RefusedError(
            403,
            "MissingAuthenticationToken",
            "the request is not signed with "
            "Signature Version 4; use the credentials `python -m ops local status` "
            "prints",
        )
    key = match.group("key")
    secret = secret_for(key)
    if secret is None:
        raise RefusedError(
            403,
            "InvalidClientTokenId",
            f"the access key {key} is not known to this "
            "local target (it changes at every start); use the credentials "
            "`python -m ops local status` prints",
        )
    if secret.session_token is not None and headers.get("x-amz-security-token") != (
        secret.session_token
    ):
        raise RefusedError(403, "InvalidClientTokenId", "the security token is missing or invalid")
    # temporary credentials stop working at their expiration, as STS's do
    # (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html: DurationSeconds)
    if secret.expires_at is not None and now() >= secret.expires_at:
        raise RefusedError(
            403, "ExpiredToken", "The security token included in the request is expired"
        )
    signed_headers = match.group("headers").split(";")
    _check_signed_headers(signed_headers, match.group("service"), secret)
    _check_date(headers, match.group("date"), now)
    content_hash = _bound_content_hash(headers)
    limit = MAX_BODY_BYTES.get(match.group("service"), DEFAULT_MAX_BODY_BYTES)
    hash_signed = content_hash is not None and "x-amz-content-sha256" in signed_headers
    # a signed payload hash stands for the body: the signature is checked before a byte of it
    # is read; without one, the signature covers the body itself, which must be read first
    body = b"" if hash_signed else _body(environ, limit)
    wanted = expected_signature(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        path=_raw_path(environ),
        query=str(environ.get("QUERY_STRING", "")),
        headers=headers,
        signed_headers=signed_headers,
        body=body,
        service=match.group("service"),
        region=match.group("region"),
        key=key,
        secret=secret.secret_access_key,
        session_token=secret.session_token,
    )
    if wanted != match.group("signature"):
        raise RefusedError(
            403,
            "SignatureDoesNotMatch",
            "the request signature we calculated does not match the signature you provided",
        )
    if hash_signed:
        body = _body(environ, limit)
    if content_hash is not None and hashlib.sha256(body).hexdigest() != content_hash:
        raise RefusedError(
            400, "XAmzContentSHA256Mismatch", "the body does not match its signed hash"
        )
    if str(environ.get("PATH_INFO", "")).startswith(MOTO_API_PREFIX):
        raise RefusedError(
            403,
            "RequestRefused",
            "moto's own API (/moto-api/: reset, recorder, state) is not served to any caller; "
            "only AWS APIs are",
        )


def _check_signed_headers(signed_headers: list[str], service: str, secret: Secret) -> None:
    """The headers AWS requires a signature to cover: ``host`` and ``x-amz-date`` always,
    ``x-amz-content-sha256`` for S3 ("Signature Calculations for the Authorization Header",
    https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html). The session
    token of temporary credentials too: a rule of this endpoint, stricter than some AWS
    services (which accept a token added after signing), that every SDK meets, since they sign
    it; otherwise anyone who saw a token could pair it with a request of their own."""
    required = list(REQUIRED_SIGNED_HEADERS)
    if service == "s3":
        required.append("x-amz-content-sha256")
    if secret.session_token is not None:
        required.append("x-amz-security-token")
    for name in required:
        if name not in signed_headers:
            raise RefusedError(
                403,
                "IncompleteSignature",
                f"'{name}' must be a signed header (SignedHeaders) of Signature Version 4",
            )


def _check_date(headers: dict[str, str], scope_date: str, now: Callable[[], float]) -> None:
    try:
        stamp = datetime.strptime(headers.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ")
    except ValueError as err:
        raise RefusedError(
            403, "IncompleteSignature", "the request has no valid X-Amz-Date"
        ) from err
    if abs(stamp.replace(tzinfo=UTC).timestamp() - now()) > MAX_SKEW_SECONDS:
        raise RefusedError(
            403,
            "RequestTimeTooSkewed",
            "the request time differs from the server's time by more than 15 minutes",
        )
    if scope_date != headers["x-amz-date"][:8]:
        raise RefusedError(
            403,
            "SignatureDoesNotMatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP",
        )


def _bound_content_hash(headers: dict[str, str]) -> str | None:
    """The request's ``x-amz-content-sha256`` if it binds the body (a SHA-256 in hex), None
    when the header is absent; any other value is refused.

    AWS also takes ``UNSIGNED-PAYLOAD`` and the streaming (``aws-chunked``) values
    (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html). With
    them the signature does not bind the body: whoever holds a request's headers could send
    any body with them. Over this plain-HTTP endpoint botocore and the CDK CLI's SDK sign the
    body's SHA-256 (measured: no request of the CDK rehearsal used another value), so they are
    refused here. A value that is none of AWS's is AWS's own ``InvalidArgument``."""
    value = headers.get("x-amz-content-sha256")
    if value is None or re.fullmatch(r"[0-9a-f]{64}", value):
        return value
    if value == "UNSIGNED-PAYLOAD" or value.startswith("STREAMING-"):
        raise RefusedError(
            403,
            "RequestRefused",
            f"x-amz-content-sha256: {value} is refused by the local target: its signature "
            "would not bind the body; sign the body's SHA-256 (boto3 and the AWS CLI do over "
            "http://, unless the AWS config's s3 section sets payload_signing_enabled = false)",
        )
    raise RefusedError(
        400,
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value",
    )


def _refusal(
    refused: RefusedError, environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    reasons = {403: "Forbidden", 413: "Request Entity Too Large"}
    status = f"{refused.status} {reasons.get(refused.status, 'Bad Request')}"
    if "json" in str(environ.get("CONTENT_TYPE", "")):
        body = json.dumps({"__type": refused.code, "message": refused.message}).encode()
        kind = "application/json"
    else:
        body = (
            f"<ErrorResponse><Error><Code>{refused.code}</Code>"
            f"<Message>{refused.message}</Message></Error></ErrorResponse>"
        ).encode()
        kind = "application/xml"
    headers = [
        ("Content-Type", kind),
        ("Content-Length", str(len(body))),
        ("x-amzn-ErrorType", refused.code),
    ]
    return status, headers, body


class Gate:
    """WSGI middleware: ``check_request`` first, then the wrapped application."""

    def __init__(self, app: WsgiApp, port: int, secret_for: Callable[[str], Secret | None]) -> None:
        self.app, self.port, self.secret_for = app, port, secret_for

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET":
                check_origin(environ, self.port)
                body = b'{"service": "reintento-local-target"}'
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            check_request(environ, self.port, self.secret_for)
        except RefusedError as refused:
            return self._refuse(refused, environ, start_response)
        except Exception as err:  # whatever fails while checking refuses: a 403, never a 500
            why = RefusedError(403, "AccessDenied", f"the request could not be checked ({err})")
            return self._refuse(why, environ, start_response)
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(
        refused: RefusedError, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        status, headers_out, body = _refusal(refused, environ)
        start_response(status, headers_out)
        return [body]
