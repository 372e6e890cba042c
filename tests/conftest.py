"""Shared fixtures: the demo model (trained once per session) and a moto server over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from ops.aws import node
from ops.modelfiles.demo_model import DemoModel, sample_rows, save_demo_model

os.environ.update(node.environment())  # aws-cdk-lib here runs the pinned Node 22
# every local target the tests start publishes metrics 2 s after the calls (AWS and the local
# default: a minute or more); a test that needs them later says so (a `late_metrics` rule)
os.environ.setdefault("REINTENTO_METRICS_DELAY_SECONDS", "2")


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> DemoModel:
    """GIVEN the demo model, trained with its seed into a temporary folder."""
    return save_demo_model(tmp_path_factory.mktemp("model") / "mejor_modelo.pkl")


@pytest.fixture(scope="session")
def demo_estimator(demo_model: DemoModel) -> Any:
    import joblib

    return joblib.load(demo_model.path)


@pytest.fixture(scope="session")
def rows_1000() -> list[dict[str, Any]]:
    return sample_rows(1000, seed=11)


@dataclass(frozen=True)
class MotoEndpoint:
    url: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoEndpoint]:
    """A real moto server on 127.0.0.1 (HTTP), not mock_aws."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield MotoEndpoint(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def no_aws_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a machine with no AWS credentials anywhere boto3 looks (env, files, metadata)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by its folder, so `-m unit` and friends select by kind."""
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in {"unit", "lambda_handler", "functional", "infra", "integration", "notebooks"}:
            item.add_marker(getattr(pytest.mark, folder))


def work_unit(nodeid: str) -> str:
    """What `make test`'s workers (pytest-xdist) never split: a file's tests run on one worker, in
    order (they share its module fixtures), and so do the four notebooks (each uses what the one
    before deployed)."""
    path = nodeid.split("::", 1)[0]
    return "notebooks" if path.startswith("notebooks/") else path


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: `-p no:xdist` runs without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scope scheduler, its scopes being :func:`work_unit`'s."""
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)
