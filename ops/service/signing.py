"""Signatures with the deployer's KMS key (the model stack's): what the function verifies."""

from __future__ import annotations

import base64

from ops.targets import Target
from reintento_function import contract


def sign(target: Target, message: bytes) -> str:
    """``message`` signed with the stack's signing key (``kms:Sign``), base64."""
    answer = target.client("kms").sign(
        KeyId=target.outputs.signing_key,
        Message=message,
        MessageType="RAW",
        SigningAlgorithm=contract.SIGNING_ALGORITHM,
    )
    return base64.b64encode(answer["Signature"]).decode()
