"""Signatures with the deployer's KMS key (the model stack's): what the function verifies, and
the signed manifest of a model version."""

from __future__ import annotations

import base64
import binascii
import hashlib

from botocore.exceptions import ClientError

from ops.modelfiles.manifest import ModelManifest, manifest_from_json, manifest_object_key
from ops.targets import Target
from reintento_function import contract
from reintento_function.signatures import KmsVerifier


def sign(target: Target, message: bytes) -> str:
    """``message`` signed with the stack's signing key (``kms:Sign``), base64."""
    answer = target.client("kms").sign(
        KeyId=target.signing_key,
        Message=message,
        MessageType="RAW",
        SigningAlgorithm=contract.SIGNING_ALGORITHM,
    )
    return base64.b64encode(answer["Signature"]).decode()


def verify(target: Target, message: bytes, signature: str | None) -> bool:
    """Whether ``signature`` (base64) is the stack's signing key's over ``message``
    (``kms:Verify``, as the function checks); an absent, malformed or foreign one is False."""
    try:
        raw = base64.b64decode(signature or "", validate=True)
    except (binascii.Error, ValueError):
        return False
    return KmsVerifier(target.client("kms"), target.signing_key)(message, raw)


MANIFEST_VERSIONS_READ = 20  # without a pointer, the manifest is among the newest few


def signed_manifest(target: Target, model_version: str) -> ModelManifest | None:
    """The manifest the model's S3 version ``model_version`` was signed with: the version its
    metadata points to (or, for an upload from before the pointer, one of the newest) whose
    bytes have the signed sha256. None when the signature does not verify or none matches."""
    s3, bucket = target.client("s3"), target.outputs.model_bucket
    key = target.settings.model_key
    metadata = s3.head_object(Bucket=bucket, Key=key, VersionId=model_version).get("Metadata")
    metadata = metadata or {}
    wanted = metadata.get(contract.MANIFEST_SHA256_METADATA)
    signature = metadata.get(contract.SIGNATURE_METADATA)
    if not wanted or not verify(target, contract.signed_message_of(key, metadata), signature):
        return None
    where = manifest_object_key(key)
    pointer = metadata.get(contract.MANIFEST_VERSION_METADATA)
    if pointer:
        candidates = [pointer]
    else:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=where).get("Versions") or []
        candidates = [v["VersionId"] for v in listed if v["Key"] == where]
    for version in candidates[:MANIFEST_VERSIONS_READ]:
        extra = {"VersionId": version} if version != "null" else {}
        try:
            document = s3.get_object(Bucket=bucket, Key=where, **extra)["Body"].read()
        except ClientError:
            continue  # a pointer to a version that is gone
        if hashlib.sha256(document).hexdigest() == wanted:
            return manifest_from_json(document.decode("utf-8", "replace"))
    return None
