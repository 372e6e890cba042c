"""profile_model: record a model's training distribution in its manifest, from data given once.

    ops.profile_model("models/mejor_modelo.pkl", rows=training_frame)   # Python
    python -m ops profile-model models/mejor_modelo.pkl --rows train.csv  # CSV, Parquet, JSONL

Without rows the profile is made from what the model reveals, and every row made from it is
synthetic. ``sample=0`` keeps no real row in the manifest (for private data); the profile's
ranges, quantiles and category shares are kept either way.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from ops.errors import ConfigurationError
from ops.inputs.batch_io import read_rows
from ops.modelfiles.manifest import (
    ModelManifest,
    build_manifest,
    describe_file,
    manifest_path,
    sha256_file,
    write_manifest,
)
from ops.modelfiles.profile import SAMPLE_ROWS, profile_frame
from ops.modelfiles.versions import DEFAULT_MODEL_PATH


def rows_frame(rows: Any, names: list[str] | None, n_features: int) -> pd.DataFrame:
    """Rows given as a DataFrame, a CSV/Parquet/JSON-lines path or a list of rows, as a frame
    (rows of an unnamed model: columns ``x0..``)."""
    if isinstance(rows, str | Path):
        rows = read_rows(rows)
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, list) and rows:
        if all(isinstance(r, dict) for r in rows):
            return pd.DataFrame(rows)
        if all(isinstance(r, list | tuple) for r in rows):
            width = max(len(r) for r in rows)
            return pd.DataFrame([list(r) for r in rows], columns=[f"x{i}" for i in range(width)])
    raise ConfigurationError(
        "rows must be a DataFrame, a CSV/Parquet/JSON-lines file or a non-empty list of rows "
        f"(the model takes {', '.join((names or [])[:5]) or f'{n_features} values per row'})"
    )


def profile_model(
    path: Path | str = DEFAULT_MODEL_PATH,
    *,
    rows: Any = None,
    sample: int = SAMPLE_ROWS,
    seed: int = 0,
) -> ModelManifest:
    """Profile the model's input from ``rows`` (the training data, or data like it) and write
    the manifest beside the model; without ``rows``, from what the model reveals (synthetic)."""
    path = Path(path)
    manifest = describe_file(path)
    if rows is None:
        manifest = replace(
            build_manifest(path, feature_dtypes=manifest.feature_dtypes),
            note="profile made from the model itself (no data given): rows made from it are "
            "synthetic",
        )
        write_manifest(manifest, path)
        return manifest
    frame = rows_frame(rows, manifest.feature_names, manifest.n_features)
    profile, left_out = profile_frame(
        frame,
        manifest.features or [],
        named=manifest.named,
        model_sha256=sha256_file(path),
        sample=sample,
        seed=seed,
    )
    profiled = replace(manifest, profile=profile.as_dict())
    kept = f"{len(profile.sample)} rows kept as a sample" if profile.sample else "no row kept"
    ignored = (
        f"; columns that are not features, left out: {', '.join(left_out)}" if left_out else ""
    )
    note = (
        f"profiled from {profile.rows:,} rows ({kept}){ignored}; {manifest_path(path).name} written"
    )
    manifest = replace(profiled, note=note)
    write_manifest(manifest, path)
    return manifest
