"""Fixtures for the handler: a versioned model bucket on the moto server and a fresh handler."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sklearn

from infra import names
from ops.modelfiles.demo_model import DemoModel
from tests.conftest import MotoEndpoint

# as the stack sets them, before the handler module (and Powertools) is imported
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", names.SERVICE_NAME)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", names.METRICS_NAMESPACE)

from reintento_function.contract import (
    SHA256_METADATA,
    SIGNING_ALGORITHM,
    SKLEARN_METADATA,
    RunTicket,
    run_ticket_key,
    signed_message_of,
)
from reintento_function.model_loader import ModelStore
from reintento_function.signatures import KmsVerifier


@dataclass
class ModelBucket:
    """A versioned bucket and the deployer's KMS signing key, as the model stack makes them."""

    s3: Any
    bucket: str
    key: str
    kms: Any
    signing_key: str

    def sign(
        self,
        sha256: str,
        sklearn_version: str,
        key_id: str | None = None,
        bound: dict[str, str] | None = None,
    ) -> str:
        metadata = {SHA256_METADATA: sha256, SKLEARN_METADATA: sklearn_version, **(bound or {})}
        answer = self.kms.sign(
            KeyId=key_id or self.signing_key,
            Message=signed_message_of(self.key, metadata),
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        return base64.b64encode(answer["Signature"]).decode()

    def put(
        self,
        body: bytes,
        *,
        sha256: str | None = "auto",
        sklearn_version: str | None = None,
        signature: str | None = "auto",
        bound: dict[str, str] | None = None,
        unsigned: dict[str, str] | None = None,
    ) -> str:
        """Upload as ``ops upload-model`` does: metadata recorded and signed ("auto"), or
        with the given (or no) sha256 and signature; ``bound``: the upload time, serial and
        stage the signature also covers; ``unsigned``: metadata it does not cover."""
        metadata = dict(bound or {})
        if sha256 is not None:
            metadata["sha256"] = hashlib.sha256(body).hexdigest() if sha256 == "auto" else sha256
        metadata["sklearn-version"] = sklearn_version or sklearn.__version__
        if signature == "auto" and sha256 is not None:
            signature = self.sign(metadata["sha256"], metadata["sklearn-version"], bound=bound)
        if signature is not None and signature != "auto":
            metadata["signature"] = signature
        metadata.update(unsigned or {})
        response = self.s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=body, Metadata=metadata
        )
        return str(response["VersionId"])

    def ticket(
        self,
        run_id: str,
        *,
        rows: int,
        slice_rows: int,
        slice_format: str = "jsonl",
        probabilities: bool = True,
        function_version: str = "$LATEST",
    ) -> None:
        """The run's ticket, signed as ``ops run-batch`` signs it (the batch bucket is this one
        in the handler's tests)."""
        ticket = RunTicket(
            run_id=run_id,
            function_version=function_version,
            rows=rows,
            slice_rows=slice_rows,
            slice_format=slice_format,
            probabilities=probabilities,
        )
        answer = self.kms.sign(
            KeyId=self.signing_key,
            Message=ticket.message,
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        signature = base64.b64encode(answer["Signature"]).decode()
        signed = dataclasses.replace(ticket, signature=signature)
        self.s3.put_object(Bucket=self.bucket, Key=run_ticket_key(run_id), Body=signed.body())

    def store(self, **kwargs: Any) -> ModelStore:
        """The function's model store for this bucket, verifying with the signing key."""
        return ModelStore(
            self.s3, self.bucket, self.key, verify=KmsVerifier(self.kms, self.signing_key), **kwargs
        )


def new_signing_key(kms: Any) -> str:
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    return str(key["KeyMetadata"]["Arn"])


@pytest.fixture
def model_bucket(moto_server: MotoEndpoint) -> ModelBucket:
    s3, kms = moto_server.client("s3"), moto_server.client("kms")
    name = f"models-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return ModelBucket(s3, name, "models/mejor_modelo.pkl", kms, new_signing_key(kms))


@pytest.fixture
def demo_bytes(demo_model: DemoModel) -> bytes:
    return demo_model.path.read_bytes()


@pytest.fixture
def handler_env(
    monkeypatch: pytest.MonkeyPatch, moto_server: MotoEndpoint, model_bucket: ModelBucket
) -> Iterator[Any]:
    """GIVEN the handler module configured as the stack configures the function."""
    import reintento_function.lambda_predict_reintento as handler_module

    for key, value in {
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MODEL_BUCKET": model_bucket.bucket,
        "MODEL_KEY": model_bucket.key,
        "MODEL_SIGNING_KEY_ARN": model_bucket.signing_key,
        "BATCH_BUCKET": model_bucket.bucket,
        "MODEL_REFRESH_SECONDS": "0",
        "MODEL_STAGE": "test",
        "MAX_ROWS": "1000",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
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
