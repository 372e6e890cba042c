"""Signatures with the deployer's KMS key (the model stack's): what the function verifies."""

from __future__ import annotations

import base64
import binascii

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
