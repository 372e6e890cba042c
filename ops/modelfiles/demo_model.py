"""The demo model: will a failed operation succeed when retried?

A seeded synthetic dataset shaped like the thesis' retry problem (latency, attempts, payload size,
hour, server load, back-off wait; error type, service, region) and a scikit-learn ``Pipeline``
(``ColumnTransformer`` scaling + one-hot, then a gradient-boosting classifier). Everything runs
without the thesis' own ``mejor_modelo.pkl``; a real model file is used the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ops.display import Card, Shown
from ops.modelfiles.manifest import ModelManifest, build_manifest, ensure_manifest, write_manifest
from ops.modelfiles.profile import profile_frame
from ops.modelfiles.versions import DEFAULT_MODEL_PATH

NUMERIC = [
    "latencia_ms",
    "intentos_previos",
    "tamano_payload_kb",
    "hora_del_dia",
    "carga_servidor",
    "espera_desde_fallo_s",
]
CATEGORICAL = ["tipo_error", "servicio", "region"]
TARGET = "exito_reintento"
ERROR_TYPES = ["timeout", "throttling", "http_5xx", "connection_reset", "dns", "http_4xx"]
SERVICES = ["s3", "dynamodb", "api_externa", "sqs", "rds"]
REGIONS = ["us-east-1", "eu-west-1", "sa-east-1"]
DEFAULT_ROWS = 24_000
SEED = 20251127

# How likely a retry succeeds, by error type (log-odds): transient errors recover, 4xx rarely.
_ERROR_EFFECT = {
    "timeout": 0.8,
    "throttling": 1.2,
    "http_5xx": 0.4,
    "connection_reset": 1.0,
    "dns": -0.6,
    "http_4xx": -2.5,
}
_SERVICE_EFFECT = {"s3": 0.5, "dynamodb": 0.3, "api_externa": -0.7, "sqs": 0.4, "rds": -0.2}


def make_dataset(n_rows: int = DEFAULT_ROWS, seed: int = SEED) -> pd.DataFrame:
    """Synthetic, plausible retry outcomes; the same rows for the same seed."""
    rng = np.random.default_rng(seed)
    error = rng.choice(ERROR_TYPES, size=n_rows, p=[0.25, 0.2, 0.2, 0.15, 0.05, 0.15])
    service = rng.choice(SERVICES, size=n_rows)
    region = rng.choice(REGIONS, size=n_rows, p=[0.5, 0.3, 0.2])
    latency = rng.lognormal(mean=5.5, sigma=0.8, size=n_rows).round(1)
    attempts = rng.poisson(1.2, size=n_rows).clip(0, 8).astype(float)
    payload = rng.gamma(2.0, 40.0, size=n_rows).round(2)
    hour = rng.integers(0, 24, size=n_rows).astype(float)
    load = rng.beta(2.0, 3.0, size=n_rows).round(3)
    wait = rng.exponential(2.0, size=n_rows).round(2)
    logit = (
        0.6
        + np.vectorize(_ERROR_EFFECT.get)(error)
        + np.vectorize(_SERVICE_EFFECT.get)(service)
        - 0.45 * attempts
        - 0.0009 * latency
        - 2.2 * (load - 0.4)
        + 0.35 * np.log1p(wait)
        - 0.002 * payload
        - 0.25 * ((hour >= 9) & (hour <= 18))
        + np.where(region == "sa-east-1", -0.3, 0.0)
    )
    success = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "latencia_ms": latency,
            "intentos_previos": attempts,
            "tamano_payload_kb": payload,
            "hora_del_dia": hour,
            "carga_servidor": load,
            "espera_desde_fallo_s": wait,
            "tipo_error": pd.array(error, dtype=object),
            "servicio": pd.array(service, dtype=object),
            "region": pd.array(region, dtype=object),
            TARGET: success.astype(int),
        }
    )


def build_pipeline(seed: int = SEED) -> Pipeline:
    features = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="error", sparse_output=False), CATEGORICAL),
        ]
    )
    classifier = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=seed)
    return Pipeline([("features", features), ("classifier", classifier)])


def train(n_rows: int = DEFAULT_ROWS, seed: int = SEED) -> Pipeline:
    data = make_dataset(n_rows, seed)
    pipeline = build_pipeline(seed)
    pipeline.fit(data[NUMERIC + CATEGORICAL], data[TARGET])
    return pipeline


def feature_dtypes() -> dict[str, str]:
    return {**{n: "float64" for n in NUMERIC}, **{c: "string" for c in CATEGORICAL}}


def sample_rows(n: int, seed: int = 7, invalid_every: int = 0) -> list[dict[str, Any]]:
    """Rows as a client sends them (JSON-ready dicts), from the same distribution.

    With ``invalid_every=k``, every k-th row (rows k-1, 2k-1, ...) names an unknown region, so
    a batch shows how invalid rows come back as error records.
    """
    frame = make_dataset(n, seed).drop(columns=[TARGET])
    records: list[dict[str, Any]] = frame.to_dict(orient="records")
    if invalid_every > 0:
        for i in range(invalid_every - 1, n, invalid_every):
            records[i]["region"] = "mars-1"
    return records


def prepare_model(path: Path | str = DEFAULT_MODEL_PATH) -> ModelManifest:
    """The manifest of the model at ``path``, written beside it when missing or stale (its
    ``note`` says so); trains the demo model there when there is no model file."""
    path = Path(path)
    if not path.is_file():
        return save_demo_model(path).manifest
    return ensure_manifest(path)


@dataclass(frozen=True)
class DemoModel(Shown):
    """Where the demo model was written and its manifest."""

    path: Path
    manifest: ModelManifest

    def card(self) -> Card:
        manifest = self.manifest.card()
        return Card(
            "Demo model",
            f"trained and saved to {self.path}",
            ok=True,
            key=(("file", str(self.path)), *manifest.key[1:]),
            details=manifest.details,
        )

    def record(self) -> dict[str, Any]:
        return self.manifest.record()


def save_demo_model(path: Path = DEFAULT_MODEL_PATH, n_rows: int = DEFAULT_ROWS) -> DemoModel:
    """Train and save the demo model with its manifest beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = make_dataset(n_rows, SEED)
    model = build_pipeline(SEED).fit(data[NUMERIC + CATEGORICAL], data[TARGET])
    joblib.dump(model, path)
    described = build_manifest(path, feature_dtypes=feature_dtypes())
    profile, _ = profile_frame(
        data,
        described.features or [],
        named=True,
        model_sha256=described.sha256,
    )
    manifest = replace(described, profile=profile.as_dict())
    write_manifest(manifest, path)
    return DemoModel(path, manifest)
