"""The model store: upload a model (checked, recorded and signed), roll back, list versions.

The sha256 and the scikit-learn version travel as S3 object metadata, signed with the model
stack's KMS key (``kms:Sign``, which only the deploying principal may use); the function verifies
the signature, then the sha256, before unpickling. A rollback copies a version with its
metadata, so the restored model carries the signature it was uploaded with. The manifest JSON
is stored beside the model for people and tools.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, overload

from ops import contract
from ops.aws.function import describe_model
from ops.aws.target import Target, target_for
from ops.errors import ModelNotUploadedError, ModelVersionMismatchError, OpsError
from ops.modelfiles.demo_model import DEFAULT_MODEL_PATH
from ops.modelfiles.manifest import ModelManifest, describe_file
from ops.modelfiles.versions import read_pins
from ops.plan import Plan
from ops.settings import Settings

SHA256 = contract.SHA256_METADATA
SKLEARN = contract.SKLEARN_METADATA


@dataclass(frozen=True)
class UploadResult:
    """Where the model went and which version the function now serves."""

    uri: str
    version_id: str | None
    sha256: str
    sklearn_version: str
    live: bool
    seconds_to_live: float = field(default=0.0, repr=False, compare=False)


@dataclass(frozen=True)
class ModelVersion:
    version_id: str
    is_latest: bool
    size_bytes: int
    sha256: str | None
    last_modified: datetime = field(repr=False, compare=False)


@dataclass(frozen=True)
class RollbackResult:
    uri: str
    restored_version: str
    new_version_id: str
    live: bool


def check_version(manifest: ModelManifest, force: bool) -> None:
    pinned = read_pins().get("scikit-learn")
    if pinned != manifest.sklearn_version and not force:
        raise ModelVersionMismatchError(
            f"{manifest.file} was trained with scikit-learn {manifest.sklearn_version} but the "
            f"function runs {pinned} (lambda/requirements.txt); retrain with {pinned}, or pin "
            f"lambda/requirements.txt to {manifest.sklearn_version} and redeploy "
            "(force=True uploads anyway and the function will refuse it)"
        )


def sign_model(target: Target, key: str, sha256: str, sklearn_version: str) -> dict[str, str]:
    """The signature metadata for one model object (``kms:Sign`` with the stack's key)."""
    signing_key = target.outputs.signing_key
    answer = target.client("kms").sign(
        KeyId=signing_key,
        Message=contract.signing_message(key, sha256, sklearn_version),
        MessageType="RAW",
        SigningAlgorithm=contract.SIGNING_ALGORITHM,
    )
    return {
        contract.SIGNATURE_METADATA: base64.b64encode(answer["Signature"]).decode(),
        contract.SIGNING_KEY_METADATA: signing_key,
    }


def wait_until_live(target: Target, version_id: str | None, timeout: float = 120.0) -> float:
    """Ask the function to look for the new version until it answers with it."""
    started = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - started < timeout:
        try:
            if describe_model(target).model.version_id == (version_id or "null"):
                return time.monotonic() - started
        except OpsError as err:
            last = err
        time.sleep(0.5)
    raise ModelNotUploadedError(
        f"the function did not serve model version {version_id} within {timeout:.0f} s"
        + (f" (last answer: {last})" if last else "")
        + "; check `python -m ops logs`",
        error_type="Timeout",
    )


@overload
def upload_model(
    path: Path | str = DEFAULT_MODEL_PATH,
    *,
    force: bool = False,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> UploadResult: ...


@overload
def upload_model(
    path: Path | str = DEFAULT_MODEL_PATH,
    *,
    force: bool = False,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


def upload_model(
    path: Path | str = DEFAULT_MODEL_PATH,
    *,
    force: bool = False,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> UploadResult | Plan:
    """Check the model, upload it with its sha256 and versions recorded, wait until it serves."""
    path = Path(path)
    manifest = describe_file(path)
    check_version(manifest, force)
    target = target_for(settings)
    key = target.settings.model_key
    if dry_run:
        steps = (
            f"upload {path.name} ({manifest.size_bytes:,} bytes, sha256 {manifest.sha256[:12]}, "
            f"scikit-learn {manifest.sklearn_version}) to the model bucket at {key}",
            "record its sha256 and scikit-learn version as object metadata, its manifest beside it",
            "wait until the function serves the new version"
            if wait
            else "not wait for the function",
        )
        return Plan("upload_model", target.settings.target, steps)
    outputs = target.outputs
    s3 = target.client("s3")
    metadata = {
        SHA256: manifest.sha256,
        SKLEARN: manifest.sklearn_version,
        **sign_model(target, key, manifest.sha256, manifest.sklearn_version),
        "estimator": manifest.estimator[:100],
        "python": manifest.versions.get("python", ""),
    }
    response = s3.put_object(
        Bucket=outputs.model_bucket, Key=key, Body=path.read_bytes(), Metadata=metadata
    )
    version_id = response.get("VersionId")
    manifest_key = key.rsplit(".", 1)[0] + ".json"
    s3.put_object(
        Bucket=outputs.model_bucket,
        Key=manifest_key,
        Body=manifest.to_json().encode(),
        ContentType="application/json",
    )
    seconds = wait_until_live(target, version_id, timeout) if wait else 0.0
    return UploadResult(
        f"s3://{outputs.model_bucket}/{key}",
        version_id,
        manifest.sha256,
        manifest.sklearn_version,
        wait,
        seconds_to_live=seconds,
    )


@overload
def list_models(
    *, dry_run: Literal[False] = False, settings: Settings | None = None
) -> tuple[ModelVersion, ...]: ...


@overload
def list_models(*, dry_run: Literal[True], settings: Settings | None = None) -> Plan: ...


def list_models(
    *, dry_run: bool = False, settings: Settings | None = None
) -> tuple[ModelVersion, ...] | Plan:
    """The model object's versions, newest first."""
    target = target_for(settings)
    if dry_run:
        steps = (f"list the versions of {target.settings.model_key} in the model bucket",)
        return Plan("list_models", target.settings.target, steps)
    s3 = target.client("s3")
    key = target.settings.model_key
    listed = s3.list_object_versions(Bucket=target.model_bucket, Prefix=key).get("Versions", [])
    found = []
    for v in listed:
        if v["Key"] != key:
            continue
        head = s3.head_object(Bucket=target.model_bucket, Key=key, VersionId=v["VersionId"])
        found.append(
            ModelVersion(
                v["VersionId"],
                bool(v["IsLatest"]),
                int(v["Size"]),
                head.get("Metadata", {}).get(SHA256),
                v["LastModified"],
            )
        )
    return tuple(sorted(found, key=lambda m: m.last_modified, reverse=True))


@overload
def rollback_model(
    *,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> RollbackResult: ...


@overload
def rollback_model(
    *,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


def rollback_model(
    *,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> RollbackResult | Plan:
    """Make the previous version current again (a copy, so the history is kept)."""
    target = target_for(settings)
    if dry_run:
        steps = (
            "find the previous version of the model object",
            "copy it over the current one (a new version; the history is kept)",
            "wait until the function serves it" if wait else "not wait for the function",
        )
        return Plan("rollback_model", target.settings.target, steps)
    versions = list_models(settings=target.settings)
    assert not isinstance(versions, Plan)
    if len(versions) < 2:
        raise ModelNotUploadedError(
            f"there is no previous model version to roll back to ({len(versions)} version(s)); "
            "upload a model first",
            error_type="NoPreviousVersion",
        )
    previous = versions[1]
    outputs = target.outputs
    key = target.settings.model_key
    copied = target.client("s3").copy_object(
        Bucket=outputs.model_bucket,
        Key=key,
        CopySource={"Bucket": outputs.model_bucket, "Key": key, "VersionId": previous.version_id},
        MetadataDirective="COPY",
    )
    new_version = str(copied.get("VersionId"))
    if wait:
        wait_until_live(target, new_version, timeout)
    return RollbackResult(
        f"s3://{outputs.model_bucket}/{key}", previous.version_id, new_version, wait
    )
