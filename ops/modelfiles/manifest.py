"""The model manifest: what a model file is, made with what, expecting what, trained on what.

Written as JSON beside the model (``mejor_modelo.json`` next to ``mejor_modelo.pkl``), uploaded
beside it and signed with it (its sha256 is part of the signed metadata). The model is read where
its own scikit-learn runs (``ops.modelfiles.local_model``), so the manifest reports what the
function will read from it: per feature what it accepts, and the feature profile (the training
distribution: ``ops.modelfiles.profile``). A manifest that describes another file (its sha256
differs) is rebuilt, and says so; a profile made from data is kept only while the model file is
the same.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.display import Card, Shown
from ops.errors import ModelFileError, ModelVersionMismatchError
from ops.modelfiles import local_model
from ops.modelfiles.profile import Profile, profile_from_hints
from ops.modelfiles.versions import LAMBDA_LOCK, read_pins, training_environment
from reintento_function import contract

# the function's refusals of a model file, as ops' errors (a model it cannot read is a file
# problem; another scikit-learn's pickle is a version problem)
_REFUSALS = {contract.MODEL_VERSION_ERROR: ModelVersionMismatchError}
_NOT_IN_JSON = ("note",)


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
    # same way the function reads it (reintento_function.inference_core), so both report the same
    features: list[dict[str, Any]] | None = field(default=None, repr=False)
    # the training distribution of the input (ops.modelfiles.profile.Profile.as_dict)
    profile: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    # what preparing the manifest did (written, rebuilt and why); not kept in the JSON
    note: str = field(default="", repr=False, compare=False)
    # the engine that serves the model and why, with the compiled file's sha256 and version
    # (ops.modelfiles.engine; set in the manifest uploaded beside the model, contract ENGINE_*)
    engine: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def sklearn_version(self) -> str:
        return self.versions["scikit-learn"]

    @property
    def named(self) -> bool:
        return self.feature_names is not None

    @property
    def regressor(self) -> bool:
        return self.classes is None

    @property
    def input_profile(self) -> Profile | None:
        return Profile.from_dict(self.profile) if self.profile else None

    def card(self) -> Card:
        accepted = self.features or []
        profile = self.input_profile
        described = {f.name: f.describe() for f in profile.features} if profile else {}
        name = contract.FEATURE_NAME
        return Card(
            "Model file",
            f"{self.estimator}, scikit-learn {self.sklearn_version}, {self.n_features} features",
            key=(
                ("file", self.file),
                ("sha256", self.sha256),
                ("size", f"{self.size_bytes:,} bytes"),
                (
                    "predicts",
                    "a number (regressor)"
                    if self.regressor
                    else f"one of {len(self.classes or [])} classes: "
                    + ", ".join(str(c) for c in (self.classes or [])[:10]),
                ),
                ("input profile", _profile_words(profile)),
            ),
            details=(
                *(
                    (
                        f"feature {f[name]}",
                        accepts_words(f)
                        + (f"; trained on {described[f[name]]}" if f[name] in described else ""),
                    )
                    for f in accepted
                    if isinstance(f, dict) and name in f
                ),
                ("saved with", f"scikit-learn {self.sklearn_version}"),
                (
                    "read with",
                    ", ".join(
                        f"{k} {v}" for k, v in sorted(self.versions.items()) if k != "scikit-learn"
                    ),
                ),
            ),
            notes=tuple(n for n in (self.note,) if n),
        )

    def record(self) -> dict[str, Any]:
        profile = self.input_profile
        return {
            "file": self.file,
            "sha256": self.sha256,
            "estimator": self.estimator,
            "sklearn_version": self.sklearn_version,
            "n_features": self.n_features,
            "feature_names": self.feature_names,
            "classes": self.classes,
            "profile": profile.source if profile else None,
        }

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k not in _NOT_IN_JSON}
        # in field order, rows' keys in the model's feature order (not sorted)
        return json.dumps(data, indent=2, allow_nan=False) + "\n"


def _profile_words(profile: Profile | None) -> str:
    if profile is None:
        return "none"
    if profile.synthetic:
        return "made from the model itself (no data given): rows made from it are synthetic"
    kept = f", {len(profile.sample)} kept as a sample" if profile.sample else ", no rows kept"
    return f"from {profile.rows:,} rows of data{kept}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_model(path: Path, rows: list[Any] | None = None) -> dict[str, Any]:
    """The function's check of a model file (``reintento_function.check_model``), run where its
    scikit-learn runs; a model the function would refuse raises with the function's reason."""
    facts = local_model.check_file(path, rows)
    refused = facts.get(contract.CHECK_REFUSED)
    if refused:
        error = _REFUSALS.get(str(refused.get(contract.ERROR_TYPE)), ModelFileError)
        reason = refused.get(contract.ERROR_MESSAGE)
        raise error(f"the function would refuse {path.name}: {reason}")
    return facts


def _versions(sklearn_version: str) -> dict[str, str]:
    """The environment that read the model: this one, or the function's pinned one."""
    versions = training_environment()
    if sklearn_version != versions.get("scikit-learn"):
        pins = read_pins(LAMBDA_LOCK)
        versions.update({k: pins[k] for k in ("numpy", "scipy", "joblib") if k in pins})
    versions["scikit-learn"] = sklearn_version
    return versions


def build_manifest(
    path: Path,
    *,
    feature_dtypes: dict[str, str] | None = None,
    created: str | None = None,
    profile: Profile | None = None,
) -> ModelManifest:
    """Describe a model file (read where its own scikit-learn runs: only for models you
    trust). Without ``profile``, the profile is made from what the model reveals."""
    facts = read_model(path)
    sha256 = sha256_file(path)
    names = facts.get(contract.CHECK_FEATURE_NAMES)
    features = list(facts.get(contract.DESCRIBE_FEATURES) or [])
    if feature_dtypes and names is not None:  # the model's feature order, however they came
        feature_dtypes = {str(n): feature_dtypes[str(n)] for n in names if str(n) in feature_dtypes}
    if profile is None:
        profile = profile_from_hints(
            facts.get(contract.CHECK_HINTS) or [],
            features,
            named=names is not None,
            model_sha256=sha256,
        )
    return ModelManifest(
        file=path.name,
        sha256=sha256,
        size_bytes=path.stat().st_size,
        estimator=str(facts[contract.CHECK_ESTIMATOR]),
        versions=_versions(str(facts[contract.MODEL_SKLEARN_VERSION])),
        feature_names=[str(n) for n in names] if names is not None else None,
        n_features=int(facts.get(contract.CHECK_N_FEATURES) or 0),
        feature_dtypes=feature_dtypes,
        classes=facts.get(contract.ANSWER_CLASSES),
        created=created or datetime.now(UTC).isoformat(timespec="seconds"),
        features=features,
        profile=profile.as_dict(),
    )


def manifest_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def write_manifest(manifest: ModelManifest, model_path: Path) -> Path:
    """Write the manifest beside the model (through a temporary file: never half written)."""
    target = manifest_path(model_path)
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(manifest.to_json())
    staging.replace(target)
    return target


def read_manifest(model_path: Path) -> ModelManifest | None:
    """The manifest beside a model file, or None (none, or not a manifest of this version)."""
    target = manifest_path(model_path)
    if not target.is_file():
        return None
    return manifest_from_json(target.read_text())


def manifest_from_json(text: str) -> ModelManifest | None:
    """A manifest from its JSON (``ModelManifest.to_json``), or None if it is not one."""
    try:
        data = json.loads(text)
        known = set(ModelManifest.__dataclass_fields__) - set(_NOT_IN_JSON)
        return ModelManifest(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError):
        return None


def manifest_object_key(model_key: str) -> str:
    """Where the model's manifest is stored beside it in the model bucket."""
    return contract.model_manifest_key(model_key)


def describe_file(model_path: Path) -> ModelManifest:
    """A fresh manifest of a model file: the feature dtypes its manifest recorded, and its
    profile while it describes this same file; ``note`` says what changed."""
    if not model_path.is_file():
        raise ModelFileError(
            f"no model file at {model_path}; save your model there with joblib.dump"
        )
    recorded = read_manifest(model_path)
    sha256 = sha256_file(model_path)
    kept: Profile | None = None
    note = f"written: there was no {manifest_path(model_path).name} beside the model"
    if recorded is not None:
        previous = recorded.input_profile
        if recorded.sha256 != sha256:
            note = (
                f"rebuilt: {manifest_path(model_path).name} described another file (sha256 "
                f"{recorded.sha256[:12]}; this one is {sha256[:12]})"
            )
            if previous is not None and not previous.synthetic:
                note += (
                    "; its profile from data was of that file and is dropped: profile this one "
                    "with ops.profile_model(path, rows=...) or `python -m ops profile-model`"
                )
        else:
            note = ""
            if previous is not None and not previous.synthetic:
                kept = previous
    manifest = build_manifest(
        model_path,
        feature_dtypes=recorded.feature_dtypes if recorded else None,
        created=recorded.created if recorded and not note else None,
        profile=kept,
    )
    return replace(manifest, note=note)


def ensure_manifest(model_path: Path) -> ModelManifest:
    """``describe_file``, written beside the model when it changed (the run says so)."""
    manifest = describe_file(model_path)
    recorded = read_manifest(model_path)
    if recorded is None or recorded.to_json() != manifest.to_json():
        write_manifest(manifest, model_path)
    return manifest


def accepts_words(feature: dict[str, Any]) -> str:
    """One feature's contract in words: kind, missing values, categories."""
    words = [str(feature.get(contract.FEATURE_KIND, "?"))]
    if feature.get(contract.FEATURE_NULLABLE):
        words.append("may be missing")
    categories = feature.get(contract.FEATURE_CATEGORIES)
    if categories:
        shown = ", ".join(str(c) for c in categories[:6])
        words.append(f"one of {shown}{', …' if len(categories) > 6 else ''}")
    return "; ".join(words)
