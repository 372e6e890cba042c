"""Signatures with the deployer's KMS key (the model stack's): what the function verifies."""

from __future__ import annotations

import base64
import binascii

from botocore.exceptions import ClientError

from ops.targets import Target
from reintento_function import contract


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
    (``kms:Verify``); an absent, malformed or foreign signature is False."""
    try:
        raw = base64.b64decode(signature or "", validate=True)
    except (binascii.Error, ValueError):
        return False
    if not raw:
        return False
    try:
        answer = target.client("kms").verify(
            KeyId=target.signing_key,
            Message=message,
            MessageType="RAW",
            Signature=raw,
            SigningAlgorithm=contract.SIGNING_ALGORITHM,
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in (
            "KMSInvalidSignatureException",
            "ValidationException",
        ):
            return False
        raise
    return bool(answer.get("SignatureValid"))
