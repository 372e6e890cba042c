"""A Runtime API endpoint serves its own environment's process only, one invocation at a time
(``reintento_local.runtime_api``, ``reintento_local.peer``): plain sockets, no local target."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from reintento_local.runtime_api import PREFIX, Invocation, RuntimeApi

NEXT = f"{PREFIX}/invocation/next"


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    endpoint = RuntimeApi()
    yield endpoint
    endpoint.close()


def _connection(api: RuntimeApi) -> http.client.HTTPConnection:
    host, port = api.address.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def _invocation(request_id: str = "req-1") -> Invocation:
    return Invocation(request_id, b'{"instances": [[1]]}', int(time.time() * 1000) + 3000, "arn")


def test_the_admitted_process_gets_the_invocation_and_answers_only_it(api: RuntimeApi) -> None:
    # GIVEN an endpoint admitting this process, with an invocation waiting
    api.admit(os.getpid())
    api.submit(_invocation())
    client = _connection(api)
    # WHEN it asks for the next invocation THEN it gets it
    client.request("GET", NEXT)
    response = client.getresponse()
    assert response.status == 200 and response.read() == b'{"instances": [[1]]}'
    assert response.getheader("Lambda-Runtime-Aws-Request-Id") == "req-1"
    # AND an answer for another request id is refused and not taken as an outcome
    client.request("POST", f"{PREFIX}/invocation/forged-id/response", body=b'{"x": 1}')
    refused = client.getresponse()
    assert refused.status == 400 and b"InvalidRequestID" in refused.read()
    assert api.outcomes.empty()
    # AND the answer for the invocation in flight is taken, once
    client.request("POST", f"{PREFIX}/invocation/req-1/response", body=b'{"ok": 1}')
    accepted = client.getresponse()
    assert accepted.status == 202 and accepted.read()
    assert api.outcomes.get(timeout=1).body == b'{"ok": 1}'
    client.request("POST", f"{PREFIX}/invocation/req-1/response", body=b'{"again": 1}')
    assert client.getresponse().status == 400
    assert api.outcomes.empty()


def test_another_process_of_the_same_user_is_not_served(api: RuntimeApi) -> None:
    # GIVEN an endpoint admitting another process (the environment's runtime client)
    other = subprocess.Popen(["sleep", "30"])
    try:
        api.admit(other.pid)
        api.submit(_invocation())
        # WHEN this process asks for the next invocation
        client = _connection(api)
        client.request("GET", NEXT)
        # THEN the connection is closed unanswered, and the invocation still waits for its own
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            client.getresponse()
        assert api.refused_connections == 1
        assert api.pending.qsize() == 1
    finally:
        other.kill()
        other.wait()


def test_an_invocation_is_never_handed_to_a_client_that_went_away(api: RuntimeApi) -> None:
    # GIVEN a /next whose client closed its connection while it waited
    api.admit(os.getpid())
    host, port = api.address.split(":")
    with socket.create_connection((host, int(port))) as gone:
        gone.sendall(f"GET {NEXT} HTTP/1.1\r\nHost: {api.address}\r\n\r\n".encode())
        time.sleep(0.3)
    time.sleep(0.2)
    # WHEN an invocation arrives
    api.submit(_invocation("req-2"))
    time.sleep(0.6)
    # THEN the next client that asks gets it (it was not lost to the closed connection)
    client = _connection(api)
    client.request("GET", NEXT)
    response = client.getresponse()
    assert response.status == 200
    assert response.getheader("Lambda-Runtime-Aws-Request-Id") == "req-2"


ATTACKER = """
import json, socket, sys
port = int(sys.argv[1])
seen = []
for path in ("/2018-06-01/runtime/invocation/next",
             "/2018-06-01/runtime/invocation/req-3/response"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            method = "GET" if path.endswith("next") else "POST"
            s.sendall((method + " " + path + " HTTP/1.1\\r\\nHost: x\\r\\n"
                       "Content-Length: 2\\r\\n\\r\\n{}").encode())
            seen.append(s.recv(65536).decode(errors="replace"))
    except OSError as err:
        seen.append("error: " + type(err).__name__)
print(json.dumps(seen))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
def test_another_user_reads_no_invocation_and_forges_no_answer(api: RuntimeApi) -> None:
    # GIVEN an endpoint admitting this process, an invocation waiting and one in flight
    api.admit(os.getpid())
    api.submit(_invocation("req-3"))
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    # WHEN another user (nobody) connects to its port, asks for the next invocation and posts
    # an answer
    attack = subprocess.run(
        [python, "-c", ATTACKER, api.address.split(":")[1]],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        user=65534,
        group=65534,
        cwd="/",
    )
    seen = json.loads(attack.stdout)
    # THEN it read nothing (no answer at all) and no outcome was taken
    assert all("req-3" not in s and "instances" not in s and "202" not in s for s in seen), seen
    assert api.outcomes.empty() and api.pending.qsize() == 1
    assert api.refused_connections == 2


def test_a_connections_peer_is_found_by_the_kernel_both_ways() -> None:
    from reintento_local.peer import peer_is, socket_of, table_entry

    # GIVEN a loopback connection made by this process
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, peer = server.accept()
        with client, accepted:
            local = server.getsockname()
            # THEN its owner and socket are what the client holds, by netlink and by /proc
            expected = (os.getuid(), os.fstat(client.fileno()).st_ino)
            assert socket_of(peer, local) == expected
            assert table_entry(peer, local) == expected
            # AND it is this process's, no other's
            assert peer_is(os.getpid(), peer, local)
            assert not peer_is(1, peer, local)
            # AND an address with no connection is nobody's
            assert socket_of(("127.0.0.1", 1), local) is None
