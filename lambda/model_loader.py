"""Fetch the model from S3, check it before unpickling, cache it, and refresh it when it changes.

Integrity before unpickling: the object's sha256 must equal the one recorded at upload (object
metadata ``sha256``), and the recorded scikit-learn version must equal the runtime's. Unpickling
then runs with ``InconsistentVersionWarning`` turned into an error.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import joblib
import sklearn
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from sklearn.exceptions import InconsistentVersionWarning

from inference_core import ModelSchema, describe_model
from inference_errors import (
    ModelIntegrityError,
    ModelStoreUnreachableError,
    ModelUnavailableError,
    ModelVersionError,
)

SHA256_METADATA = "sha256"
SKLEARN_METADATA = "sklearn-version"
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

    def describe(self) -> dict[str, Any]:
        return {
            "version_id": self.version_id,
            "sha256": self.sha256[:12],
            "sklearn_version": self.sklearn_version,
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
    runtime = sklearn.__version__
    if recorded_sklearn and recorded_sklearn != runtime:
        raise ModelVersionError(
            f"model was trained with scikit-learn {recorded_sklearn} but the function runs "
            f"{runtime}; retrain with {runtime} or pin lambda/requirements.txt to "
            f"{recorded_sklearn} and redeploy"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            estimator = joblib.load(io.BytesIO(body))
    except InconsistentVersionWarning as err:
        raise ModelVersionError(
            f"the pickle was made with another scikit-learn version than {runtime}: {err}; "
            "retrain the model with the pinned version"
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


class ModelStore:
    """Reads one S3 object with bounded retries on transient network errors."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.attempts, self.backoff, self.sleep = attempts, backoff_seconds, sleep

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        for attempt in range(self.attempts):
            try:
                return fn(Bucket=self.bucket, Key=self.key, **kwargs)
            except _TRANSIENT as err:
                if attempt == self.attempts - 1:
                    raise ModelStoreUnreachableError(
                        f"S3 unreachable reading {self.uri} after {self.attempts} attempts "
                        f"({type(err).__name__}); retry later"
                    ) from err
                self.sleep(self.backoff * 2**attempt)
            except ClientError as err:
                code = str(err.response.get("Error", {}).get("Code", ""))
                if code in _MISSING_CODES:
                    raise ModelUnavailableError(
                        f"no model at {self.uri}; upload it with "
                        "`python -m ops upload-model models/mejor_modelo.pkl`"
                    ) from err
                if code in _DENIED_CODES:
                    raise ModelUnavailableError(
                        f"access denied reading {self.uri}; check MODEL_BUCKET/MODEL_KEY "
                        "match the function's IAM policy"
                    ) from err
                raise
        raise AssertionError("unreachable")

    def head(self) -> dict[str, Any]:
        return dict(self._call(self.s3.head_object))

    def fetch(self, version_id: str | None) -> bytes:
        extra = {"VersionId": version_id} if version_id and version_id != "null" else {}
        response = self._call(self.s3.get_object, **extra)
        return bytes(response["Body"].read())


def _version_of(head: dict[str, Any]) -> str:
    return str(head.get("VersionId") or head.get("ETag", "").strip('"') or "null")


class ModelCache:
    """The model of one execution environment: loaded lazily, refreshed after a quiet period."""

    def __init__(
        self,
        store: ModelStore,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.store, self.refresh_seconds, self.clock = store, refresh_seconds, clock
        self.on_error = on_error
        self.model: LoadedModel | None = None
        self.checked_at = 0.0
        self.loads = 0

    def _load(self, head: dict[str, Any]) -> LoadedModel:
        t0 = time.perf_counter()
        version = _version_of(head)
        body = self.store.fetch(head.get("VersionId"))
        metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        estimator = verify_and_load(
            body, metadata.get(SHA256_METADATA), metadata.get(SKLEARN_METADATA)
        )
        self.loads += 1
        return LoadedModel(
            estimator=estimator,
            schema=describe_model(estimator),
            version_id=version,
            sha256=hashlib.sha256(body).hexdigest(),
            sklearn_version=sklearn.__version__,
            load_ms=(time.perf_counter() - t0) * 1000,
        )

    def get(self, force_check: bool = False) -> tuple[LoadedModel, bool]:
        """Return (model, loaded_now). Raises the typed faults when there is no usable model.

        ``force_check`` looks for a new version now instead of after the refresh period.
        """
        now = self.clock()
        if self.model is None:
            self.model = self._load(self.store.head())
            self.checked_at = now
            return self.model, True
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
