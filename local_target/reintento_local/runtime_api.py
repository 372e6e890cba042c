"""A small Lambda Runtime API endpoint for one execution environment.

The official runtime client (``awslambdaric``, the one inside AWS's Python base images) polls
``/invocation/next``, runs the handler, and posts ``/response`` or ``/error``; an import failure
is posted to ``/init/error``. This endpoint serves exactly that protocol on 127.0.0.1.

On AWS the Runtime API is reachable from inside its execution environment only
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html). Here it is a loopback port,
so every connection's peer must be the environment's own process (``reintento_local.peer``:
another user's or another process's connection is closed unanswered); an answer is accepted only
for the invocation in flight, and an invocation is never handed to a connection that is gone.
"""

from __future__ import annotations

import json
import queue
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reintento_local.peer import peer_is

PREFIX = "/2018-06-01/runtime"


@dataclass(frozen=True)
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str


@dataclass(frozen=True)
class Outcome:
    """What the runtime posted for one invocation (or at init)."""

    request_id: str
    ok: bool
    body: bytes
    error_type: str | None = None


class RuntimeApi:
    """Serves one runtime client; ``submit`` an invocation, then ``outcomes.get()`` its result."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.ready = threading.Event()
        self.init_error: Outcome | None = None
        self.closed = threading.Event()
        self.in_flight: str | None = None  # the request id handed to the runtime, unanswered
        self.refused_connections = 0
        self._owner: int | None = None
        self._owner_known = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one write for headers and body: no 40 ms stalls

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not self.path.startswith(f"{PREFIX}/invocation/next"):
                    self._reply(404)
                    return
                api.ready.set()
                while not api.closed.is_set():
                    try:
                        item = api.pending.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    if self._gone():  # its client went away: the next /next gets it
                        api.pending.put(item)
                        return
                    api.in_flight = item.request_id
                    try:
                        self._reply(
                            200,
                            item.payload,
                            {
                                "Content-Type": "application/json",
                                "Lambda-Runtime-Aws-Request-Id": item.request_id,
                                "Lambda-Runtime-Deadline-Ms": str(item.deadline_ms),
                                "Lambda-Runtime-Invoked-Function-Arn": item.function_arn,
                                "Lambda-Runtime-Trace-Id": _trace_id(item.request_id),
                            },
                        )
                    except OSError:  # it left before the write: the next /next gets it
                        api.in_flight = None
                        api.pending.put(item)
                    return
                self._reply(410)

            def _gone(self) -> bool:
                readable, _, _ = select.select([self.connection], [], [], 0)
                try:
                    return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    return True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if parts[:2] == ["init", "error"]:
                    api.init_error = Outcome("", False, body, error_type or _type_of(body))
                    api.ready.set()
                elif (
                    len(parts) == 3
                    and parts[0] == "invocation"
                    and parts[2] in ("response", "error")
                ):
                    if parts[1] != api.in_flight:
                        self._reply(
                            400,
                            b'{"errorMessage":"no invocation with this request id is in '
                            b'flight","errorType":"InvalidRequestID"}',
                            {"Content-Type": "application/json"},
                        )
                        return
                    api.in_flight = None
                    ok = parts[2] == "response"
                    api.outcomes.put(
                        Outcome(parts[1], ok, body, None if ok else error_type or _type_of(body))
                    )
                else:
                    self._reply(404)
                    return
                self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.api = self
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def admit(self, pid: int) -> None:
        """Serve connections from process ``pid`` only (the environment's runtime client)."""
        self._owner = pid
        self._owner_known.set()

    def from_owner(self, peer: tuple[str, int]) -> bool:
        """Whether a connection from ``peer`` comes from the admitted process."""
        if not self._owner_known.wait(OWNER_WAIT_SECONDS) or self._owner is None:
            return False
        local = self.server.server_address
        return peer_is(self._owner, (str(peer[0]), int(peer[1])), (str(local[0]), int(local[1])))

    def submit(self, invocation: Invocation) -> None:
        self.pending.put(invocation)

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


OWNER_WAIT_SECONDS = 10.0  # a connection before the process is known waits this long for it


class _Server(ThreadingHTTPServer):
    api: RuntimeApi

    def verify_request(self, request: Any, client_address: Any) -> bool:
        try:
            if self.api.from_owner(client_address):
                return True
        except Exception:  # whatever fails while checking refuses; it never stops the loop
            pass
        self.api.refused_connections += 1
        return False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is no error of the endpoint's: nothing to log."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _type_of(body: bytes) -> str:
    try:
        return str(json.loads(body).get("errorType") or "Runtime.Unknown")
    except (ValueError, AttributeError):
        return "Runtime.Unknown"


def _trace_id(request_id: str) -> str:
    # awslambdaric crashes without this header; the value is opaque to the handler.
    epoch = format(int(time.time()), "08x")
    return f"Root=1-{epoch}-{request_id.replace('-', '')[:24]};Sampled=0"
