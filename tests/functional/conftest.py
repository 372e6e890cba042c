"""The functional layer: each verb run whole, in process, with no local target and no network.

Every test here runs with the machine's network cut: a connection attempt raises
``NetworkCall`` at once (a ``BaseException``, so no verb can swallow it and retry), and the
test fails. What a verb does before its first call (checking its arguments, building its
dry-run plan, refusing) is what this layer covers; what it does after is the integration
layer's, on the local target over HTTP.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ops
from ops.targets import forget


class NetworkCall(BaseException):
    """A verb tried to open a connection where none may be opened."""


@pytest.fixture(autouse=True)
def network_cut(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """GIVEN a machine whose every TCP connection attempt fails at once and is recorded."""
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise NetworkCall(f"a connection to {address} was attempted")
        return real_connect(self, address)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    yield attempts
    assert attempts == [], f"the verb opened connections: {attempts}"


@pytest.fixture
def settings_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_aws_credentials: None
) -> Iterator[Any]:
    """Settings for a target kind, with a state folder of the test's own (nothing started)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")

    def settings(kind: str, **extra: Any) -> ops.Settings:
        return ops.Settings.resolve(
            target=kind, state_dir=str(tmp_path / "state"), local_port=45321, **extra
        )

    yield settings
    forget()
    # AND no local target was started: it would have written its state folder
    assert not (tmp_path / "state").exists()
