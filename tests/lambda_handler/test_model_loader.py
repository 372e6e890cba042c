"""Integrity before unpickling, version refusal, bounded retries, refresh on a new version."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import pytest
from botocore.exceptions import ClientError

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


class _ReadsWithoutImplicitListing:
    """The bucket as a role sees it when S3 does not carry ``s3:prefix`` into GetObject's
    implicit list check (which AWS does not document): a missing key is 403 AccessDenied, while
    ListObjectsV2 with the key as its prefix (the documented use of ``s3:prefix``) works, or is
    denied too when ``may_list`` is false."""

    def __init__(self, s3: Any, *, may_list: bool) -> None:
        self.s3, self.may_list = s3, may_list

    @staticmethod
    def _denied(operation: str) -> ClientError:
        error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
        return ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)

    def _read(self, operation: str, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] in {"NoSuchKey", "404", "NotFound"}:
                raise self._denied(operation) from None
            raise

    def head_object(self, **kwargs: Any) -> Any:
        return self._read("HeadObject", self.s3.head_object, **kwargs)

    def get_object(self, **kwargs: Any) -> Any:
        return self._read("GetObject", self.s3.get_object, **kwargs)

    def list_objects_v2(self, **kwargs: Any) -> Any:
        if not self.may_list:
            raise self._denied("ListObjectsV2")
        return self.s3.list_objects_v2(**kwargs)


def test_a_missing_model_is_missing_even_when_s3_answers_403(model_bucket: ModelBucket) -> None:
    # GIVEN a role that may list the model key (ListBucket with s3:prefix = the key), and an S3
    # that answers a read of the missing key 403, as it does when the implicit list check does
    # not see s3:prefix (AWS parity III, item 11)
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions)
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
    # (an other object under the key's prefix must not count as the model)
    model_bucket.s3.put_object(Bucket=model_bucket.bucket, Key=f"{model_bucket.key}.old", Body=b"x")
    store = model_bucket.store()
    store.s3 = _ReadsWithoutImplicitListing(model_bucket.s3, may_list=True)
    # WHEN the model is fetched  THEN it is "no model, upload one" (a fresh deploy), not denied
    with pytest.raises(ModelUnavailableError, match="upload-model") as missing:
        ModelCache(store, 60).get()
    assert missing.value.missing
    # AND a role that may not list either is told it is denied (not "upload a model")
    store.s3 = _ReadsWithoutImplicitListing(model_bucket.s3, may_list=False)
    with pytest.raises(ModelUnavailableError, match="access denied") as denied:
        ModelCache(store, 60).get()
    assert not denied.value.missing


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


def _manifest(feature: str) -> bytes:
    """A manifest whose profile (from data) has one numeric feature ``feature`` in 0..1."""
    import json

    profile = {"name": feature, "kind": "numeric", "quantiles": [0.0, 1.0]}
    return json.dumps({"profile": {"source": "data", "features": [profile]}}).encode()


def test_the_profile_comes_from_the_manifest_version_with_the_signed_sha256(
    model_bucket: ModelBucket,
) -> None:

    from reintento_function.contract import (
        MANIFEST_SHA256_METADATA,
        MANIFEST_VERSION_METADATA,
        model_manifest_key,
    )

    document = _manifest("x")
    s3, where = model_bucket.s3, model_manifest_key(model_bucket.key)
    good = s3.put_object(Bucket=model_bucket.bucket, Key=where, Body=document)["VersionId"]
    junk = s3.put_object(Bucket=model_bucket.bucket, Key=where, Body=_manifest("y"))["VersionId"]
    signed = {MANIFEST_SHA256_METADATA: hashlib.sha256(document).hexdigest()}
    store = model_bucket.store()
    profile = store.profile({**signed, MANIFEST_VERSION_METADATA: good})
    assert profile is not None and [f.name for f in profile.features] == ["x"]
    # a pointer to other bytes (a bucket writer's), no pointer, a pointer to nothing: no
    # profile, and no error (the model still serves; drift is not counted)
    assert store.profile({**signed, MANIFEST_VERSION_METADATA: junk}) is None
    assert store.profile(signed) is None
    assert store.profile({**signed, MANIFEST_VERSION_METADATA: "no-such-version"}) is None
    assert store.profile({MANIFEST_VERSION_METADATA: good}) is None


def test_a_profile_s3_could_not_give_is_asked_for_again(
    model_bucket: ModelBucket, demo_bytes: bytes
) -> None:

    from botocore.exceptions import EndpointConnectionError

    from reintento_function.contract import (
        MANIFEST_SHA256_METADATA,
        MANIFEST_VERSION_METADATA,
        model_manifest_key,
    )
    from reintento_function.model_loader import PROFILE_RETRY_SECONDS

    document = _manifest("x")
    where = model_manifest_key(model_bucket.key)
    s3 = model_bucket.s3
    pointer = s3.put_object(Bucket=model_bucket.bucket, Key=where, Body=document)["VersionId"]
    model_bucket.put(
        demo_bytes,
        bound={MANIFEST_SHA256_METADATA: hashlib.sha256(document).hexdigest()},
        unsigned={MANIFEST_VERSION_METADATA: pointer},
    )

    class Unreachable:
        """S3 for the model, but the manifest's reads fail while ``down``."""

        down = True

        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def get_object(self, **kwargs: Any) -> Any:
            if self.down and kwargs["Key"] == where:
                raise EndpointConnectionError(endpoint_url="https://s3")
            return s3.get_object(**kwargs)

    flaky = Unreachable()
    now = [0.0]
    store = ModelStore(flaky, model_bucket.bucket, model_bucket.key, verify=lambda m, s: True,
                       sleep=lambda _: None)  # fmt: skip
    errors: list[Exception] = []
    cache = ModelCache(store, 60, clock=lambda: now[0], on_error=errors.append)
    # WHEN the manifest cannot be read as the model loads: the model serves, without a profile
    model, _ = cache.get()
    assert model.profile is None and len(errors) == 1
    # AND it is not asked for again before its time
    flaky.down = False
    now[0] = PROFILE_RETRY_SECONDS - 1
    assert cache.get()[0].profile is None
    # THEN once that time has come, the next call has it (the same model, not loaded again)
    now[0] = PROFILE_RETRY_SECONDS
    model, loaded_now = cache.get()
    assert model.profile is not None and not loaded_now and cache.loads == 1


def _compiled_upload(
    model_bucket: ModelBucket, demo_model: Any, onnx_body: bytes | None = None
) -> tuple[bytes, dict[str, Any]]:
    """The demo model as upload_model puts it for the ONNX engine: the compiled file, a
    manifest whose engine record names it (sha256 and S3 version), and the signed pickle.
    ``onnx_body``: other bytes stored in place of the compiled file (a bucket writer's)."""
    import json
    from dataclasses import replace

    from ops.modelfiles.engine import engine_for
    from ops.modelfiles.manifest import ensure_manifest
    from reintento_function import contract

    manifest = ensure_manifest(demo_model.path)
    choice = engine_for(demo_model.path, manifest, "onnx")
    assert choice.onnx is not None, choice.reason
    s3, bucket = model_bucket.s3, model_bucket.bucket
    written = s3.put_object(
        Bucket=bucket, Key=contract.model_onnx_key(model_bucket.key), Body=onnx_body or choice.onnx
    )
    record = {
        **choice.record(),
        contract.ENGINE_ONNX_SHA256: hashlib.sha256(choice.onnx).hexdigest(),
        contract.ENGINE_ONNX_VERSION: written["VersionId"],
    }
    document = replace(manifest, engine=record).to_json().encode()
    where = contract.model_manifest_key(model_bucket.key)
    pointer = s3.put_object(Bucket=bucket, Key=where, Body=document)["VersionId"]
    body = demo_model.path.read_bytes()
    model_bucket.put(
        body,
        bound={contract.MANIFEST_SHA256_METADATA: hashlib.sha256(document).hexdigest()},
        unsigned={contract.MANIFEST_VERSION_METADATA: pointer},
    )
    return body, json.loads(document)


def test_a_compiled_model_is_served_without_reading_the_pickle(
    model_bucket: ModelBucket, demo_model: Any, demo_estimator: Any, rows_1000: list[Any]
) -> None:
    """#30: a signed manifest choosing the ONNX engine: the compiled file is loaded, the
    pickle's bytes are never fetched, and the answers are model.predict's."""
    from reintento_function.inference_core import check_rows, model_input, predict
    from reintento_function.onnx_engine import CompiledModel

    _compiled_upload(model_bucket, demo_model)
    store = model_bucket.store()
    fetched: list[Any] = []
    original = store.fetch
    store.fetch = lambda version: fetched.append(version) or original(version)  # type: ignore[method-assign]
    model, _ = ModelCache(store, 60).get()
    assert model.engine == "onnx" and isinstance(model.estimator, CompiledModel)
    assert fetched == []  # the pickle was never read
    rows = rows_1000
    check = check_rows(model.schema, rows)
    answer = predict(model.estimator, model_input(model.estimator, model.schema, check))
    import pandas as pd

    assert answer.predictions == demo_estimator.predict(pd.DataFrame(rows)).tolist()


def test_a_replaced_compiled_file_is_not_served(model_bucket: ModelBucket, demo_model: Any) -> None:
    """#30: a bucket writer who replaces the compiled file cannot make the function serve it:
    its sha256 is not the one the signed manifest records, so the signed pickle serves, and the
    refusal is reported."""
    from sklearn.tree import DecisionTreeClassifier

    from ops.modelfiles.onnx_compile import compile_model

    other = compile_model(DecisionTreeClassifier().fit([[0.0], [1.0]], [0, 1]), set())
    _compiled_upload(model_bucket, demo_model, onnx_body=other)
    reported: list[Exception] = []
    model, _ = ModelCache(model_bucket.store(), 60, on_error=reported.append).get()
    assert model.engine == "sklearn" and hasattr(model.estimator, "predict_proba")
    assert [type(e) for e in reported] == [ModelIntegrityError], reported
    assert "sha256" in str(reported[0])
