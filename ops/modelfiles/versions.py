"""The versions that must agree: the training environment and the function's pinned runtime."""

from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_DIR = PROJECT_ROOT / "lambda"
# where the notebooks and the CLI look for the model (the seed's models/mejor_modelo.pkl)
DEFAULT_MODEL_PATH = PROJECT_ROOT / "models" / "mejor_modelo.pkl"
LAMBDA_REQUIREMENTS = LAMBDA_DIR / "requirements.txt"
LAMBDA_LOCK = LAMBDA_DIR / "requirements.lock"
MODEL_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib")
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;#]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def read_pins(path: Path = LAMBDA_REQUIREMENTS) -> dict[str, str]:
    """Exact pins (``name==version``) of a requirements file, by canonical name."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def installed(names: tuple[str, ...] = MODEL_LIBRARIES) -> dict[str, str]:
    """Versions of the given distributions in this (training) environment."""
    return {_canonical(n): metadata.version(n) for n in names}


def training_environment() -> dict[str, str]:
    """What a manifest records about the environment a model was made in."""
    return {"python": platform.python_version(), **installed()}
