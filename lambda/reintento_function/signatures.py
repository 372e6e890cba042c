"""Signatures by the deployer's KMS key, checked with ``kms:Verify``: the one verifier the
function (models, run tickets) and ops (rollout records) share."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from reintento_function.contract import SIGNING_ALGORITHM


class KmsVerifier:
    """Whether a signature is the deployer's signing key's over a message (``kms:Verify``);
    a signature KMS refuses as invalid or malformed is False, any other error is raised."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self.kms, self.key_id = kms, key_id

    def __call__(self, message: bytes, signature: bytes) -> bool:
        if not signature:
            return False
        try:
            answer = self.kms.verify(
                KeyId=self.key_id,
                Message=message,
                MessageType="RAW",
                Signature=signature,
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in ("KMSInvalidSignatureException", "ValidationException"):
                return False
            raise
        return bool(answer.get("SignatureValid"))
