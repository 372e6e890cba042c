"""The local target's per-start operator key, and its private state folder.

Every start makes a new access key pair, written to ``credentials.json`` in the state folder
(mode 0600 in a 0700 folder): only the user who started the local target can read it, and the
server refuses every request not signed with it (or with temporary credentials it issued).
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials.json"
_KEY_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class OperatorCredentials:
    """The key pair ``ops`` (and the AWS CLI, with the printed exports) signs requests with."""

    access_key_id: str
    secret_access_key: str

    def export_lines(self, endpoint: str, region: str) -> list[str]:
        """Shell lines that point the AWS CLI (or any SDK) at the local target."""
        return [
            f"export AWS_ENDPOINT_URL={endpoint}",
            f"export AWS_ACCESS_KEY_ID={self.access_key_id}",
            f"export AWS_SECRET_ACCESS_KEY={self.secret_access_key}",
            "unset AWS_SESSION_TOKEN AWS_PROFILE",
            f"export AWS_DEFAULT_REGION={region}",
        ]


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def new_credentials(state_dir: Path) -> OperatorCredentials:
    """A fresh key pair for a new start, saved privately in the state folder."""
    credentials = OperatorCredentials(
        "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
        secrets.token_urlsafe(30),
    )
    private_dir(state_dir)
    write_private(
        state_dir / CREDENTIALS_FILE,
        json.dumps(
            {
                "access_key_id": credentials.access_key_id,
                "secret_access_key": credentials.secret_access_key,
            }
        ),
    )
    return credentials


def read_credentials(state_dir: Path) -> OperatorCredentials | None:
    """The key pair of the running local target, or None when there is none."""
    try:
        data = json.loads((state_dir / CREDENTIALS_FILE).read_text())
        return OperatorCredentials(str(data["access_key_id"]), str(data["secret_access_key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
