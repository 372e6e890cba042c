"""The model manifest: what a model file is, made with what, expecting what.

Written as JSON beside the model (``mejor_modelo.json`` next to ``mejor_modelo.pkl``) and recorded
in the S3 object's metadata at upload, where the function checks it before unpickling.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.exceptions import InconsistentVersionWarning

from ops.display import Card, Shown
from ops.errors import ModelFileError
from ops.modelfiles.versions import training_environment


@dataclass(frozen=True)
class ModelManifest(Shown):
    """Facts about one model file."""

    file: str
    sha256: str
    size_bytes: int
    estimator: str
    versions: dict[str, str]
    feature_names: list[str] | None
    n_features: int
    feature_dtypes: dict[str, str] | None
    classes: list[Any] | None
    created: str = field(compare=False, repr=False)
    # per feature, what the model accepts (kind, nullable, categories): read from the model the
    # same way the function reads it (lambda/reintento_function/inference_core.py), so both report the same
    features: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def sklearn_version(self) -> str:
        return self.versions["scikit-learn"]

    def card(self) -> Card:
        accepted = self.features or []
        return Card(
            "Model file",
            f"{self.estimator}, scikit-learn {self.sklearn_version}, {self.n_features} features",
            key=(
                ("file", self.file),
                ("sha256", self.sha256),
                ("size", f"{self.size_bytes:,} bytes"),
                ("classes", [str(c) for c in self.classes or []]),
            ),
            details=(
                *(
                    (f"feature {f['name']}", _accepts(f))
                    for f in accepted
                    if isinstance(f, dict) and "name" in f
                ),
                *((f"made with {k}", v) for k, v in sorted(self.versions.items())),
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "estimator": self.estimator,
            "sklearn_version": self.sklearn_version,
            "n_features": self.n_features,
            "feature_names": self.feature_names,
            "classes": self.classes,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_estimator(path: Path) -> tuple[Any, str | None]:
    """Unpickle a model file; return it and the scikit-learn version it was pickled with, if
    that differs from this environment's (read from ``InconsistentVersionWarning``)."""
    if not path.is_file():
        raise ModelFileError(
            f"no model file at {path}; train the demo with `python -m ops train-demo`"
        )
    other_version: str | None = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            estimator = joblib.load(path)
    except Exception as err:
        raise ModelFileError(
            f"{path} cannot be unpickled ({type(err).__name__}: {err}); "
            "save a fitted scikit-learn model with joblib.dump"
        ) from err
    for w in caught:
        if isinstance(w.message, InconsistentVersionWarning):
            other_version = w.message.original_sklearn_version
    if not callable(getattr(estimator, "predict", None)):
        raise ModelFileError(
            f"{path} holds a {type(estimator).__name__}, not an estimator with predict(); "
            "save a fitted scikit-learn estimator or pipeline"
        )
    return estimator, other_version


def build_manifest(
    path: Path, *, feature_dtypes: dict[str, str] | None = None, created: str | None = None
) -> ModelManifest:
    """Describe a model file (unpickles it: only for models you trust)."""
    estimator, other_version = load_estimator(path)
    versions = training_environment()
    if other_version:
        versions["scikit-learn"] = other_version
    names = getattr(estimator, "feature_names_in_", None)
    classes = getattr(estimator, "classes_", None)
    if feature_dtypes and names is not None:  # the model's feature order, however they came
        feature_dtypes = {str(n): feature_dtypes[str(n)] for n in names if str(n) in feature_dtypes}
    return ModelManifest(
        file=path.name,
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        estimator=type(estimator).__name__,
        versions=versions,
        feature_names=[str(n) for n in names] if names is not None else None,
        n_features=int(getattr(estimator, "n_features_in_", 0)),
        feature_dtypes=feature_dtypes,
        classes=np.asarray(classes).tolist() if classes is not None else None,
        created=created or datetime.now(UTC).isoformat(timespec="seconds"),
        features=accepted_input(estimator),
    )


def accepted_input(estimator: Any) -> list[dict[str, Any]]:
    """Per feature, what the model accepts, as the function's describe-model answer says it."""
    from reintento_function import inference_core as core

    return list(core.accepted_input(core.describe_model(estimator)))


def manifest_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def write_manifest(manifest: ModelManifest, model_path: Path) -> Path:
    target = manifest_path(model_path)
    target.write_text(manifest.to_json())
    return target


def read_manifest(model_path: Path) -> ModelManifest | None:
    target = manifest_path(model_path)
    if not target.is_file():
        return None
    return ModelManifest(**json.loads(target.read_text()))


def describe_file(model_path: Path) -> ModelManifest:
    """A fresh manifest of a model file, keeping the feature dtypes its manifest recorded."""
    recorded = read_manifest(model_path)
    return build_manifest(model_path, feature_dtypes=recorded.feature_dtypes if recorded else None)


def _accepts(feature: dict[str, Any]) -> str:
    """One feature's contract in words: kind, missing values, categories."""
    words = [str(feature.get("kind", "?"))]
    if feature.get("nullable"):
        words.append("may be missing")
    categories = feature.get("categories")
    if categories:
        shown = ", ".join(str(c) for c in categories[:6])
        words.append(f"one of {shown}{', …' if len(categories) > 6 else ''}")
    return "; ".join(words)
