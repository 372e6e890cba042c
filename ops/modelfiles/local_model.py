"""A model file, read where its own scikit-learn runs.

A pickle is only ever read by the scikit-learn that saved it: in this process when that is the
project's version, else by ``reintento_function.check_model`` in the function's own environment
(the one the deploy builds from ``lambda/requirements.lock``), once ``python -m ops
pin-function`` has pinned the function to the model's version. Which version saved a file is
read from its bytes without unpickling it (``saved_with``). What comes back is what the function
would answer: a refusal with its reason, or the model's description; with rows, the function's
answer to them and ``model.predict`` on the same rows.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import re
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ops.errors import DeployError, ModelFileError, ModelVersionMismatchError
from ops.modelfiles.versions import LAMBDA_DIR, LAMBDA_LOCK, PROJECT_ROOT, read_pins

# scikit-learn writes its version into every estimator's pickled state: the key, then the value
# as a short (protocol 4-5) or long (1-3) unicode string, possibly memoized and framed in between
# (MEMOIZE, BINPUT, LONG_BINPUT; FRAME: protocol 4-5); protocol 0 writes text lines
_VERSION = re.compile(
    rb"_sklearn_version(?:\x94|q.|r....)?(?:\x95.{8})?(?:\x8c(.)|X(....))", re.DOTALL
)
_VERSION_TEXT = re.compile(rb"V_sklearn_version\n(?:p\d+\n)?V(\d+\.\d+[\w.+-]*)\n")
_COMPRESSED = (
    (b"\x1f\x8b", gzip.decompress),
    (b"BZh", bz2.decompress),
    (b"\xfd7zXZ", lzma.decompress),
    (b"]\x00\x00", lzma.decompress),
    (b"x", zlib.decompress),
)
# the function reads each step's input tags with sklearn.utils.get_tags, new in 1.6
OLDEST_SERVED = (1, 6)
CHECK_TIMEOUT_SECONDS = 600


def saved_with(path: Path) -> str | None:
    """The scikit-learn version that pickled ``path``, read from its bytes (never unpickled);
    None when the file does not say."""
    data = path.read_bytes()
    for magic, decompress in _COMPRESSED:
        if data.startswith(magic):
            try:
                data = decompress(data)
            except (OSError, ValueError, EOFError, zlib.error, lzma.LZMAError):
                return None
            break
    text_form = _VERSION_TEXT.search(data)
    if text_form is not None:
        return text_form.group(1).decode("ascii")
    found = _VERSION.search(data)
    if found is None:
        return None
    size = (
        found.group(1)[0]
        if found.group(1) is not None
        else int.from_bytes(found.group(2), "little")
    )
    text = data[found.end() : found.end() + min(size, 40)].decode("ascii", errors="replace")
    return text if re.fullmatch(r"\d+\.\d+[\w.+-]*", text) else None


def saved_with_loading(path: Path) -> str | None:
    """The version that saved ``path``, from unpickling it here (scikit-learn warns when it was
    another): only for a file whose bytes do not say, and only for a model you trust."""
    import warnings

    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            joblib.load(path)
    except Exception:
        return None
    for warning in caught:
        if isinstance(warning.message, InconsistentVersionWarning):
            return str(warning.message.original_sklearn_version)
    return project_sklearn()


def version_of(path: Path) -> str | None:
    """The version that saved ``path``: read from its bytes, else from unpickling it here."""
    return saved_with(path) or saved_with_loading(path)


def project_sklearn() -> str:
    """The scikit-learn of this (the training) environment."""
    return metadata.version("scikit-learn")


def function_sklearn() -> str:
    """The scikit-learn the function's image installs (its lock)."""
    return read_pins(LAMBDA_LOCK).get("scikit-learn", "")


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def mismatch_advice(path: Path, saved: str, served: str) -> str:
    """What to do when a model was saved with another scikit-learn than the function's."""
    shown = _shown(path)
    if version_tuple(saved)[:2] < OLDEST_SERVED:
        return (
            f"{shown} was saved with scikit-learn {saved}; the function needs scikit-learn "
            f"{OLDEST_SERVED[0]}.{OLDEST_SERVED[1]} or newer: save the model again with a newer "
            f"scikit-learn (the project's is {project_sklearn()})"
        )
    back = (
        " (the project's own version: `git checkout lambda/` also goes back to it)"
        if saved == project_sklearn()
        else ""
    )
    return (
        f"{shown} was saved with scikit-learn {saved} but the function runs {served} "
        f"(lambda/requirements.lock); build the function for {saved}{back}: "
        f"`python -m ops pin-function {shown}` from the project folder, and the next deploy "
        f"(`make run` deploys) builds it; or save the model again with scikit-learn {served}"
    )


def _shown(path: Path) -> str:
    """The path as a command run from the project folder takes it (the README's commands run
    there; a notebook's own ``../models/...`` would not work from it)."""
    for base in (PROJECT_ROOT, Path.cwd()):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def python_for_model(path: Path) -> str | None:
    """Where ``path`` is read: None for this process, else the Python of the function's
    environment (built now if missing) when the function is pinned to the model's version."""
    saved = saved_with(path)  # a file whose bytes do not say is read here (its load warns)
    if saved is None or saved == project_sklearn():
        return None
    served = function_sklearn()
    if saved != served or version_tuple(saved)[:2] < OLDEST_SERVED:
        raise ModelVersionMismatchError(mismatch_advice(path, saved, served))
    from reintento_local import ImageBuildError, python_for

    try:
        return python_for(LAMBDA_DIR)
    except ImageBuildError as err:
        raise DeployError(str(err)) from err


def check_file(path: Path, rows: Sequence[Any] | None = None) -> dict[str, Any]:
    """``reintento_function.check_model.check`` of the file, run where its scikit-learn runs."""
    if not path.is_file():
        raise ModelFileError(
            f"no model file at {_shown(path)}; save your model there with joblib.dump"
        )
    python = python_for_model(path)
    if python is None:
        from reintento_function.check_model import check

        return check(path.read_bytes(), list(rows) if rows is not None else None)
    return _check_there(python, path, rows)


def _check_there(python: str, path: Path, rows: Sequence[Any] | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="reintento-check-") as folder:
        command = [python, "-m", "reintento_function.check_model", str(path.resolve())]
        if rows is not None:
            lines = Path(folder) / "rows.jsonl"
            lines.write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in rows))
            command += ["--rows", str(lines)]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(LAMBDA_DIR)},
            cwd=folder,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ModelFileError(
            f"checking {_shown(path)} in the function's environment failed:\n{tail}\n"
            "fix the function's environment (`python -m ops pin-function` writes it)"
        )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
