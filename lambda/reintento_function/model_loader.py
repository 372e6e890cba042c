"""Fetch the model from S3, check it before unpickling, cache it, and refresh it when it changes.

Authenticity and integrity before unpickling: the object's metadata (sha256, scikit-learn
version) must carry a signature by the deployer's KMS key, verified with ``kms:Verify`` before a
byte of the pickle is read; then the bytes' sha256 must equal the signed one, and the signed
scikit-learn version the runtime's. Unpickling runs with ``InconsistentVersionWarning`` turned
into an error. A pickle can execute code when loaded, so only a signed one is ever loaded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from reintento_function import contract
from reintento_function.contract import (
    MANIFEST_SHA256_METADATA,
    MANIFEST_VERSION_METADATA,
    MAX_MANIFEST_BYTES,
    MODEL_SHA256,
    MODEL_SKLEARN_VERSION,
    MODEL_VERSION_ID,
    SHA256_METADATA,
    SIGNATURE_METADATA,
    SKLEARN_METADATA,
    STAGE_METADATA,
    model_manifest_key,
    signed_message_of,
)
from reintento_function.drift_check import InputProfile
from reintento_function.inference_core import ModelSchema, describe_model, schema_from_manifest
from reintento_function.inference_errors import (
    ModelIntegrityError,
    ModelStoreUnreachableError,
    ModelUnavailableError,
    ModelVersionError,
)
from reintento_function.onnx_engine import CompiledModel

_TRANSIENT = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound", "NoSuchVersion"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden"}


@dataclass(frozen=True)
class LoadedModel:
    """A verified, unpickled model and where it came from."""

    estimator: Any
    schema: ModelSchema
    version_id: str
    sha256: str
    sklearn_version: str
    load_ms: float
    # the training profile of its signed manifest (None: no usable manifest, no drift counted)
    profile: InputProfile | None = None
    # its verified metadata (the profile is found from it)
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # which engine answers: the estimator (scikit-learn) or its compiled form (``estimator`` is
    # then a ``CompiledModel``, and no pickle was read)
    engine: str = contract.ENGINE_SKLEARN

    def describe(self) -> dict[str, Any]:
        return {
            MODEL_VERSION_ID: self.version_id,
            MODEL_SHA256: self.sha256[:12],
            MODEL_SKLEARN_VERSION: self.sklearn_version,
            contract.MODEL_ENGINE: self.engine,
        }


def verify_and_load(body: bytes, recorded_sha256: str | None, recorded_sklearn: str | None) -> Any:
    """Check bytes against the recorded sha256 and version, then unpickle. Pure: no S3."""
    if not recorded_sha256:
        raise ModelIntegrityError(
            "the model object has no recorded sha256 (metadata 'sha256'); "
            "upload it with `python -m ops upload-model PATH`, which records it"
        )
    actual = hashlib.sha256(body).hexdigest()
    if actual != recorded_sha256:
        raise ModelIntegrityError(
            f"model sha256 {actual[:12]} does not match the recorded {recorded_sha256[:12]}: "
            "the object is corrupted or was replaced; upload the model again"
        )
    import joblib
    import sklearn
    from sklearn.exceptions import InconsistentVersionWarning

    runtime = sklearn.__version__
    if recorded_sklearn and recorded_sklearn != runtime:
        raise ModelVersionError(
            f"the model was saved with scikit-learn {recorded_sklearn} but this function runs "
            f"{runtime}; build the function for {recorded_sklearn} (`python -m ops pin-function "
            f"MODEL_FILE`, then deploy again) or save the model again with scikit-learn {runtime}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            estimator = joblib.load(io.BytesIO(body))
    except InconsistentVersionWarning as err:
        raise ModelVersionError(
            f"the pickle was made with another scikit-learn version than {runtime}: {err}; "
            "build the function for the model's version (`python -m ops pin-function "
            f"MODEL_FILE`, then deploy again) or save the model again with scikit-learn {runtime}"
        ) from err
    except Exception as err:  # truncated or foreign bytes raise many different errors
        raise ModelIntegrityError(
            f"the model object cannot be unpickled ({type(err).__name__}: {str(err)[:200]}); "
            "upload a joblib file of a fitted scikit-learn model"
        ) from err
    if not callable(getattr(estimator, "predict", None)):
        raise ModelIntegrityError(
            f"the model object is a {type(estimator).__name__}, not a scikit-learn estimator "
            "with predict(); upload a fitted estimator or pipeline"
        )
    try:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
    except Exception as err:
        raise ModelIntegrityError(
            f"the model is not fitted ({err}); fit it before uploading"
        ) from err
    return estimator


def check_signature(
    verify: Callable[[bytes, bytes], bool],
    model_key: str,
    metadata: Mapping[str, str],
    stage: str = "",
) -> None:
    """Refuse metadata that the deployer did not sign (before the pickle is fetched), or
    signed for another stage than ``stage`` (the function's)."""
    if not metadata.get(SHA256_METADATA) or not metadata.get(SKLEARN_METADATA):
        raise ModelIntegrityError(
            "the model object has no recorded sha256 or scikit-learn version (metadata "
            f"'{SHA256_METADATA}', '{SKLEARN_METADATA}'); upload it with "
            "`python -m ops upload-model PATH`, which records and signs them"
        )
    try:
        signature = base64.b64decode(metadata.get(SIGNATURE_METADATA) or "", validate=True)
    except ValueError:
        signature = b""
    if not signature:
        raise ModelIntegrityError(
            "the model object is not signed by the deployer's key, so it is never loaded; "
            "upload the model again with `python -m ops upload-model PATH`, which signs it"
        )
    if not verify(signed_message_of(model_key, metadata), signature):
        raise ModelIntegrityError(
            "the model object's signature is not valid for the deployer's key (replaced or "
            "signed elsewhere), so it is never loaded; upload the model again with "
            "`python -m ops upload-model PATH`"
        )
    signed_stage = metadata.get(STAGE_METADATA, "")
    if signed_stage and stage and signed_stage != stage:
        raise ModelIntegrityError(
            f"the model object was signed for stage {signed_stage}, and this function serves "
            f"stage {stage}; upload the model to this stage with "
            f"`python -m ops upload-model PATH --stage {stage}`"
        )


class ProfileUnreadError(Exception):
    """The manifest could not be read just now (S3 unreachable, or a 5xx): ask again later."""


PROFILE_RETRY_SECONDS = 30.0  # a profile S3 could not give is asked for again after this
# a compiled model over this size is not read (the demo model's is 49 KB; a 500-tree forest's a
# few MB): the pickle serves
MAX_COMPILED_BYTES = 256 * 1024**2


class ModelStore:
    """Reads one S3 object with bounded retries on transient network errors; verifies its
    signature with ``verify`` (``KmsVerifier``) before fetching its bytes."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        verify: Callable[[bytes, bytes], bool],
        stage: str = "",
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.s3, self.bucket, self.key, self.verify = s3, bucket, key, verify
        self.stage = stage  # the function's: a model signed for another stage is refused
        self.attempts, self.backoff, self.sleep = attempts, backoff_seconds, sleep

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _retrying(self, service: str, call: Callable[[], Any]) -> Any:
        """``call`` with bounded retries and backoff on transient network errors."""
        for attempt in range(self.attempts):
            try:
                return call()
            except _TRANSIENT as err:
                if attempt == self.attempts - 1:
                    raise ModelStoreUnreachableError(
                        f"{service} unreachable for {self.uri} after {self.attempts} attempts "
                        f"({type(err).__name__}); retry later"
                    ) from err
                self.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def check_signature(self, metadata: dict[str, str]) -> None:
        """Verify the signed metadata, retrying transient network errors like S3 reads."""
        self._retrying(
            "KMS",
            lambda: check_signature(self.verify, self.key, metadata, self.stage),
        )

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return self._retrying("S3", lambda: fn(Bucket=self.bucket, Key=self.key, **kwargs))
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES or (code in _DENIED_CODES and self._absent()):
                raise ModelUnavailableError(
                    f"no model at {self.uri}; upload it with "
                    "`python -m ops upload-model models/mejor_modelo.pkl`",
                    missing=True,
                ) from err
            if code in _DENIED_CODES:
                raise ModelUnavailableError(
                    f"access denied reading {self.uri}; check MODEL_BUCKET/MODEL_KEY "
                    "match the function's IAM policy"
                ) from err
            raise

    def _absent(self) -> bool:
        """Whether S3 lists no object at the key, asked when a read of it is denied. S3 answers a
        missing key 404 only to a reader that may list the bucket, and whether a ListBucket
        allowed for the key's ``s3:prefix`` counts is not documented; ListObjectsV2 with the key
        as its prefix is that condition's documented use, so "no model" does not depend on it.
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions)
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html"""
        try:
            listed = self._retrying(
                "S3",
                lambda: self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.key, MaxKeys=1),
            )
        except ClientError:
            return False  # may not list either: the read is denied, say so
        return not any(item.get("Key") == self.key for item in listed.get("Contents", []))

    def head(self, version_id: str | None = None) -> dict[str, Any]:
        extra = {"VersionId": version_id} if version_id else {}
        return dict(self._call(self.s3.head_object, **extra))

    def profile(self, metadata: Mapping[str, str]) -> InputProfile | None:
        """The training profile of the model's manifest (``manifest``). None when there is
        none to use: drift is then not counted, and the model still serves."""
        document = self.manifest(metadata)
        return InputProfile.from_manifest(document) if document is not None else None

    def manifest(self, metadata: Mapping[str, str]) -> dict[str, Any] | None:
        """The model's manifest: the version its metadata points to, used only if its bytes
        have the signed sha256 (``metadata`` is verified already). None when there is none to
        use (a model uploaded before manifests were pointed to, a manifest replaced, missing or
        refused). ``ProfileUnreadError`` when S3 could not be read just now (ask again)."""
        wanted, version = (
            metadata.get(MANIFEST_SHA256_METADATA),
            metadata.get(MANIFEST_VERSION_METADATA),
        )
        if not wanted or not version:
            return None
        extra = {"VersionId": version} if version != "null" else {}
        key = model_manifest_key(self.key)
        try:
            response = self._retrying(
                "S3", lambda: self.s3.get_object(Bucket=self.bucket, Key=key, **extra)
            )
            if int(response.get("ContentLength") or 0) > MAX_MANIFEST_BYTES:
                return None
            document = bytes(response["Body"].read(MAX_MANIFEST_BYTES + 1))
        except ClientError as err:  # missing or denied: no drift, the model serves
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status >= 500:
                raise ProfileUnreadError(str(err)) from err
            return None
        except (BotoCoreError, ModelStoreUnreachableError) as err:  # unreachable, broke off
            raise ProfileUnreadError(str(err)) from err
        if hashlib.sha256(document).hexdigest() != wanted:
            return None
        try:
            parsed = json.loads(document)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def compiled(self, manifest: Mapping[str, Any]) -> CompiledModel | None:
        """The compiled model the manifest's engine record names, if it chose ONNX: that S3
        version of the ``.onnx`` object, used only if its bytes have the recorded sha256 (the
        manifest's own sha256 is signed). None: the estimator serves."""
        record = manifest.get(contract.MANIFEST_ENGINE)
        if not isinstance(record, Mapping) or record.get(contract.ENGINE_NAME) != (
            contract.ENGINE_ONNX
        ):
            return None
        version = str(record.get(contract.ENGINE_ONNX_VERSION) or "")
        extra = {"VersionId": version} if version and version != "null" else {}
        key = contract.model_onnx_key(self.key)
        response = self._retrying(
            "S3", lambda: self.s3.get_object(Bucket=self.bucket, Key=key, **extra)
        )
        if int(response.get("ContentLength") or 0) > MAX_COMPILED_BYTES:
            raise ModelIntegrityError(
                f"the compiled model s3://{self.bucket}/{key} is over "
                f"{MAX_COMPILED_BYTES // 1024**2} MiB; the model is served by scikit-learn"
            )
        body = bytes(response["Body"].read(MAX_COMPILED_BYTES + 1))
        if hashlib.sha256(body).hexdigest() != record.get(contract.ENGINE_ONNX_SHA256):
            raise ModelIntegrityError(
                f"the compiled model s3://{self.bucket}/{key} does not have the sha256 its "
                "signed manifest records (replaced or corrupted); upload the model again with "
                "`python -m ops upload-model PATH`"
            )
        return CompiledModel.load(body)

    def fetch(self, version_id: str | None) -> bytes:
        extra = {"VersionId": version_id} if version_id and version_id != "null" else {}
        response = self._call(self.s3.get_object, **extra)
        return bytes(response["Body"].read())


def _version_of(head: dict[str, Any]) -> str:
    return str(head.get("VersionId") or head.get("ETag", "").strip('"') or "null")


class ModelCache:
    """The model of one execution environment, loaded lazily.

    Pinned (``pinned_version``, from the function's configuration): exactly that S3 version, with
    that sha256, for the life of the environment; a new model is a new configuration, so new
    environments. Unpinned: the newest version, looked for again after ``refresh_seconds``.
    """

    def __init__(
        self,
        store: ModelStore,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] | None = None,
        pinned_version: str | None = None,
        pinned_sha256: str | None = None,
    ) -> None:
        self.store, self.refresh_seconds, self.clock = store, refresh_seconds, clock
        self.pinned_version, self.pinned_sha256 = pinned_version, pinned_sha256
        self.on_error = on_error
        self.model: LoadedModel | None = None
        self.checked_at = 0.0
        self.loads = 0
        self.profile_retry_at: float | None = None  # when to ask S3 for the profile again

    def _load(self, head: dict[str, Any]) -> LoadedModel:
        t0 = time.perf_counter()
        metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        self.store.check_signature(metadata)  # before a byte of the pickle is read
        manifest = self._manifest(metadata)
        compiled = self._compiled(manifest)
        if compiled is not None:  # the pickle is never read
            estimator, schema = compiled
            sha256 = str(metadata.get(SHA256_METADATA))
            sklearn_version, engine = str(metadata.get(SKLEARN_METADATA)), contract.ENGINE_ONNX
        else:
            body = self.store.fetch(head.get("VersionId"))
            estimator = verify_and_load(
                body, metadata.get(SHA256_METADATA), metadata.get(SKLEARN_METADATA)
            )
            import sklearn

            schema, sha256 = describe_model(estimator), hashlib.sha256(body).hexdigest()
            sklearn_version, engine = sklearn.__version__, contract.ENGINE_SKLEARN
        self.loads += 1
        return LoadedModel(
            estimator=estimator,
            schema=schema,
            version_id=_version_of(head),
            sha256=sha256,
            sklearn_version=sklearn_version,
            load_ms=(time.perf_counter() - t0) * 1000,
            profile=InputProfile.from_manifest(manifest) if manifest is not None else None,
            metadata=metadata,
            engine=engine,
        )

    def _compiled(self, manifest: Mapping[str, Any] | None) -> tuple[Any, ModelSchema] | None:
        """The compiled model and the schema its manifest records, when the manifest chose the
        ONNX engine and both are usable; else None, and the estimator serves (what could not
        be used is reported: a compiled file that fails its sha256, or no onnxruntime)."""
        if manifest is None:
            return None
        try:
            compiled = self.store.compiled(manifest)
            return (compiled, schema_from_manifest(manifest)) if compiled is not None else None
        except Exception as err:  # the signed pickle still answers exactly; say why
            if self.on_error is not None:
                self.on_error(err)
            return None

    def _manifest(self, metadata: Mapping[str, str]) -> dict[str, Any] | None:
        """The model's manifest; when S3 could not give it just now, None until it is asked for
        again (``_profile_later``), so one transient error does not switch drift off for the
        life of the execution environment."""
        try:
            manifest = self.store.manifest(metadata)
        except ProfileUnreadError as err:
            self.profile_retry_at = self.clock() + PROFILE_RETRY_SECONDS
            if self.on_error is not None:
                self.on_error(err)
            return None
        self.profile_retry_at = None
        return manifest

    def _profile_later(self, model: LoadedModel) -> LoadedModel:
        """``model`` with its profile, when an earlier read failed and it is time to ask again."""
        if self.profile_retry_at is None or self.clock() < self.profile_retry_at:
            return model
        manifest = self._manifest(model.metadata)
        profile = InputProfile.from_manifest(manifest) if manifest is not None else None
        return replace(model, profile=profile) if profile is not None else model

    def get(self, force_check: bool = False) -> tuple[LoadedModel, bool]:
        """Return (model, loaded_now). Raises the typed faults when there is no usable model.

        ``force_check`` looks for a new version now instead of after the refresh period.
        """
        now = self.clock()
        if self.model is None:
            self.model = self._load(self.store.head(self.pinned_version))
            if self.pinned_sha256 and self.model.sha256 != self.pinned_sha256:
                self.model = None
                raise ModelIntegrityError(
                    f"model version {self.pinned_version} does not have the sha256 the function's "
                    "configuration pins; upload the model again with `python -m ops upload-model`"
                )
            self.checked_at = now
            return self.model, True
        self.model = self._profile_later(self.model)
        if self.pinned_version:
            return self.model, False
        if not force_check and now - self.checked_at < self.refresh_seconds:
            return self.model, False
        self.checked_at = now
        try:
            head = self.store.head()
            if _version_of(head) == self.model.version_id:
                return self.model, False
            self.model = self._load(head)
            return self.model, True
        except Exception as err:  # keep serving the verified model; report and retry later
            if self.on_error is not None:
                self.on_error(err)
            return self.model, False
