"""pin_function: build the function for the scikit-learn that saved the model (one step).

    python -m ops pin-function models/mejor_modelo.pkl     # then: make run (or deploy --yes)

The model's scikit-learn decides the function's. This rewrites the scikit-learn pin of
``lambda/requirements.txt`` to the version that saved the model (read from the file's bytes, never
unpickled) and regenerates ``lambda/requirements.lock`` with uv (every wheel hashed, Python 3.12,
x86_64 and arm64), keeping each other version of the current lock wherever the new one allows.
Both files are written to temporary files first and moved into place only once the lock has
resolved: a failure leaves them as they were. Deploying again builds the image from them (on the
local target: the function's own environment), and the project's checks of the model then read it
in that environment, never with another scikit-learn. ``git checkout lambda/`` goes back.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from ops.display import Card, Plan, Shown
from ops.errors import ConfigurationError, DeployError, ModelFileError, ModelVersionMismatchError
from ops.modelfiles.local_model import (
    OLDEST_SERVED,
    function_sklearn,
    mismatch_advice,
    project_sklearn,
    version_of,
    version_tuple,
)
from ops.modelfiles.versions import (
    DEFAULT_MODEL_PATH,
    LAMBDA_LOCK,
    LAMBDA_REQUIREMENTS,
    PROJECT_ROOT,
)

# what make lock writes above the lock (the project's own versions)
MAKE_LOCK_HEADER = (
    "# The function image's whole dependency tree with every wheel's hash (pip --require-hashes),\n"
    "# for Python 3.12 on x86_64 and arm64, at the training environment's versions.\n"
    "# Generated from requirements.txt and ../requirements/constraints.txt by: make lock\n"
)
LOCK_HEADER = (
    "# The function image's whole dependency tree with every wheel's hash (pip --require-hashes),\n"
    "# for Python 3.12 on x86_64 and arm64.\n"
)
_SKLEARN_PIN = re.compile(r"^scikit-learn==\S+", re.MULTILINE)
COMPILE_TIMEOUT_SECONDS = 600
CONSTRAINTS = PROJECT_ROOT / "requirements" / "constraints.txt"


@dataclass(frozen=True)
class PinResult(Shown):
    """Which scikit-learn the function is built with now, for which model file."""

    model: str
    saved_with: str
    was: str
    changed: bool

    def card(self) -> Card:
        return Card(
            "Function pinned",
            f"the function is pinned to scikit-learn {self.saved_with} (was {self.was}); the "
            "next deploy builds it"
            if self.changed
            else f"the function is pinned to scikit-learn {self.saved_with} already: nothing "
            "changed",
            key=(
                ("model", self.model),
                ("saved with", f"scikit-learn {self.saved_with}"),
                (
                    "files",
                    "lambda/requirements.txt, lambda/requirements.lock" if self.changed else None,
                ),
            ),
            notes=(
                "next: deploy again to build it (`python -m ops deploy --yes`; `make run` deploys "
                "too), then upload the model",
                *(
                    ()
                    if self.saved_with == project_sklearn()
                    else (
                        "back to the project's version: `git checkout lambda/requirements.txt "
                        "lambda/requirements.lock`",
                    )
                ),
            )
            if self.changed
            else (),
        )

    def record(self) -> dict[str, Any]:
        return {"saved_with": self.saved_with, "was": self.was, "changed": self.changed}


def _saved_version(path: Path) -> str:
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}; save your model there with joblib.dump")
    saved = version_of(path)
    if saved is None:
        raise ModelFileError(
            f"{path.name} does not say which scikit-learn saved it (not a joblib file of a "
            "scikit-learn model?); save it with joblib.dump"
        )
    if version_tuple(saved)[:2] < OLDEST_SERVED:
        raise ModelVersionMismatchError(mismatch_advice(path, saved, function_sklearn()))
    return saved


@overload
def pin_function(
    path: Path | str = DEFAULT_MODEL_PATH, *, dry_run: Literal[False] = False
) -> PinResult: ...


@overload
def pin_function(path: Path | str = DEFAULT_MODEL_PATH, *, dry_run: Literal[True]) -> Plan: ...


def pin_function(
    path: Path | str = DEFAULT_MODEL_PATH, *, dry_run: bool = False
) -> PinResult | Plan:
    """Pin the function's scikit-learn (``lambda/requirements.txt`` and its hashed lock) to the
    version that saved the model at ``path``; deploy again afterwards to build it."""
    path = Path(path)
    saved = _saved_version(path)
    was = function_sklearn()
    if dry_run:
        steps = (
            f"read the scikit-learn that saved {path.name}: {saved} (the function runs {was})",
            f"pin scikit-learn=={saved} in lambda/requirements.txt and regenerate "
            "lambda/requirements.lock with every wheel's hash (uv; written only if it resolves)"
            if saved != was
            else "nothing: the function already runs it",
        )
        return Plan("pin_function", "", steps)
    if saved == was:
        return PinResult(path.name, saved, was, changed=False)
    requirements, lock = _resolved(saved)
    _replace_both(requirements, lock)
    return PinResult(path.name, saved, was, changed=True)


def _resolved(version: str) -> tuple[str, str]:
    """The new requirements text and its hashed lock (resolved in a temporary folder). Back to
    the project's own version, both are what ``make lock`` writes (the same files as git's, so
    the function's environment is the one already built)."""
    text = LAMBDA_REQUIREMENTS.read_text()
    if not _SKLEARN_PIN.search(text):
        raise ConfigurationError(f"{LAMBDA_REQUIREMENTS} pins no scikit-learn; add scikit-learn==X")
    own = version == project_sklearn()
    note = (
        ""
        if own
        else f"# scikit-learn pinned to {version}, the version that saved the model, by "
        f"`python -m ops pin-function` (the project's environment runs {project_sklearn()})\n"
    )
    pinned = _SKLEARN_PIN.sub(f"scikit-learn=={version}", text)
    requirements = note + re.sub(r"^# scikit-learn pinned to .*\n", "", pinned, flags=re.M)
    with tempfile.TemporaryDirectory(prefix="reintento-pin-") as name:
        folder = Path(name)
        (folder / "lambda").mkdir()
        (folder / "lambda" / "requirements.txt").write_text(requirements)
        output = folder / "lambda" / "requirements.lock"
        shutil.copyfile(LAMBDA_LOCK, output)  # its versions are kept where the new pin allows
        command = [
            sys.executable, "-m", "uv", "pip", "compile", "lambda/requirements.txt",
            "--universal", "--python-version", "3.12", "--generate-hashes", "--no-header",
            "--quiet", "-o", "lambda/requirements.lock",
        ]  # fmt: skip
        if own:  # as make lock does: the training environment's versions
            (folder / "requirements").mkdir()
            shutil.copyfile(CONSTRAINTS, folder / "requirements" / "constraints.txt")
            command += ["-c", "requirements/constraints.txt"]
        done = subprocess.run(
            command,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise DeployError(
                f"the function's dependencies do not resolve with scikit-learn=={version} "
                f"(nothing was changed):\n{done.stderr.strip()[-1500:]}\n"
                "save the model with a scikit-learn that works with the other pins of "
                "lambda/requirements.txt, or change those pins"
            )
        body = output.read_text()
    return requirements, (MAKE_LOCK_HEADER if own else LOCK_HEADER + note) + body


def _replace_both(requirements: str, lock: str) -> None:
    """Write both files through temporary files in their folder, then move them into place."""
    staged = []
    for target, text in ((LAMBDA_REQUIREMENTS, requirements), (LAMBDA_LOCK, lock)):
        staging = target.with_name(f".{target.name}.new")
        staging.write_text(text)
        staged.append((staging, target))
    for staging, target in staged:
        staging.replace(target)
