"""Integrity before unpickling, version refusal, bounded retries, refresh on a new version."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from reintento_function.inference_errors import (
    ModelIntegrityError,
    ModelStoreUnreachableError,
    ModelUnavailableError,
    ModelVersionError,
)
from reintento_function.model_loader import ModelCache, ModelStore, verify_and_load
from tests.lambda_handler.conftest import ModelBucket


def test_verified_bytes_load(demo_bytes: bytes) -> None:
    model = verify_and_load(demo_bytes, hashlib.sha256(demo_bytes).hexdigest(), None)
    assert hasattr(model, "predict_proba")


@pytest.mark.parametrize(
    ("mutate", "recorded", "error", "match"),
    [
        (lambda b: b, "0" * 64, ModelIntegrityError, "does not match"),
        (lambda b: b, None, ModelIntegrityError, "no recorded sha256"),
        (lambda b: b[: len(b) // 2], "same", ModelIntegrityError, "cannot be unpickled"),
        (
            lambda b: pickle.dumps({"not": "a model"}),
            "same",
            ModelIntegrityError,
            "not a scikit-learn",
        ),
    ],
)
def test_integrity_refusals(demo_bytes: bytes, mutate, recorded, error, match) -> None:  # type: ignore[no-untyped-def]
    # GIVEN bytes that are corrupted, unrecorded, truncated or not a model
    body = mutate(demo_bytes)
    sha = hashlib.sha256(body).hexdigest() if recorded == "same" else recorded
    # THEN they are refused before (or while) unpickling, with what to do next
    with pytest.raises(error, match=match):
        verify_and_load(body, sha, None)


def test_other_sklearn_version_is_refused(demo_bytes: bytes) -> None:
    sha = hashlib.sha256(demo_bytes).hexdigest()
    with pytest.raises(ModelVersionError, match=r"saved with scikit-learn 1\.0\.2.*pin-function"):
        verify_and_load(demo_bytes, sha, "1.0.2")


def test_inconsistent_version_warning_becomes_an_error(demo_bytes: bytes) -> None:
    # GIVEN a pickle whose scikit-learn version stamps say another version (same length)
    import sklearn

    current = sklearn.__version__.encode()
    other = b"0" + current[1:] if not current.startswith(b"0") else b"9" + current[1:]
    body = demo_bytes.replace(current, other)
    assert body != demo_bytes
    # WHEN it is loaded with no recorded version  THEN InconsistentVersionWarning is an error
    with pytest.raises(ModelVersionError, match="another scikit-learn version"):
        verify_and_load(body, hashlib.sha256(body).hexdigest(), None)


def test_missing_object_is_model_unavailable(model_bucket: ModelBucket) -> None:
    store = model_bucket.store()
    with pytest.raises(ModelUnavailableError, match="upload-model"):
        ModelCache(store, 60).get()


def test_unreachable_s3_retries_then_raises() -> None:
    import boto3
    from botocore.config import Config

    # GIVEN an S3 endpoint where nothing listens
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=0.2),
    )
    sleeps: list[float] = []
    store = ModelStore(
        s3,
        "b",
        "k",
        verify=lambda message, signature: True,
        attempts=3,
        backoff_seconds=0.1,
        sleep=sleeps.append,
    )
    # WHEN the model is fetched  THEN 3 attempts with exponential backoff, then a typed error
    with pytest.raises(ModelStoreUnreachableError, match="after 3 attempts"):
        ModelCache(store, 60).get()
    assert sleeps == [0.1, 0.2]


def test_refresh_loads_a_new_version(model_bucket: ModelBucket, demo_bytes: bytes) -> None:
    # GIVEN a cache that served version 1
    now = [0.0]
    store = model_bucket.store()
    cache = ModelCache(store, refresh_seconds=60, clock=lambda: now[0])
    v1 = model_bucket.put(demo_bytes)
    first, loaded = cache.get()
    assert (first.version_id, loaded) == (v1, True)
    # WHEN version 2 is uploaded
    v2 = model_bucket.put(demo_bytes + b"")  # same bytes, new S3 version
    # THEN it is not seen before the refresh period, and is seen after it
    assert cache.get()[0].version_id == v1
    now[0] = 61.0
    second, loaded = cache.get()
    assert (second.version_id, loaded) == (v2, True)
    assert cache.loads == 2


def test_bad_new_version_keeps_serving_the_verified_one(
    model_bucket: ModelBucket, demo_bytes: bytes
) -> None:
    now = [0.0]
    errors: list[Exception] = []
    store = model_bucket.store()
    cache = ModelCache(store, 1, clock=lambda: now[0], on_error=errors.append)
    v1 = model_bucket.put(demo_bytes)
    cache.get()
    model_bucket.put(b"garbage", sha256="0" * 64)
    now[0] = 5.0
    model, _ = cache.get()
    assert model.version_id == v1
    assert isinstance(errors[0], ModelIntegrityError)
