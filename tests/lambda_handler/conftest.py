"""Fixtures for the handler: a versioned model bucket on the moto server and a fresh handler."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sklearn

from ops.demo_model import DemoModel
from tests.conftest import MotoEndpoint


@dataclass
class ModelBucket:
    s3: Any
    bucket: str
    key: str

    def put(
        self, body: bytes, *, sha256: str | None = "auto", sklearn_version: str | None = None
    ) -> str:
        metadata = {}
        if sha256 is not None:
            metadata["sha256"] = hashlib.sha256(body).hexdigest() if sha256 == "auto" else sha256
        metadata["sklearn-version"] = sklearn_version or sklearn.__version__
        response = self.s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=body, Metadata=metadata
        )
        return str(response["VersionId"])


@pytest.fixture
def model_bucket(moto_server: MotoEndpoint) -> ModelBucket:
    s3 = moto_server.client("s3")
    name = f"models-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return ModelBucket(s3, name, "models/mejor_modelo.pkl")


@pytest.fixture
def demo_bytes(demo_model: DemoModel) -> bytes:
    return demo_model.path.read_bytes()


@pytest.fixture
def handler_env(
    monkeypatch: pytest.MonkeyPatch, moto_server: MotoEndpoint, model_bucket: ModelBucket
) -> Iterator[Any]:
    """GIVEN the handler module configured as the stack configures the function."""
    import lambda_predict_reintento as handler_module

    for key, value in {
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MODEL_BUCKET": model_bucket.bucket,
        "MODEL_KEY": model_bucket.key,
        "MODEL_REFRESH_SECONDS": "0",
        "MAX_ROWS": "1000",
        "POWERTOOLS_METRICS_NAMESPACE": "Reintento",
    }.items():
        monkeypatch.setenv(key, value)
    handler_module._state.clear()
    yield handler_module
    handler_module._state.clear()


class Context:
    function_name = "predict"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id = "req-1"
