"""Which engine serves a model: its compiled ONNX form when that answers exactly what the model
answers, else scikit-learn; and why.

"Exactly" is measured, never assumed: both engines run on the verification rows as the
function runs them (``check_rows``, then ``predict_attributed``; the ONNX model is fed the same
checked columns), and
- every row's ``predict`` answer must be identical: the same label, or for a regressor the same
  float64 value to the last bit;
- a classifier's probabilities must be within ``PROBABILITY_TOLERANCE`` (absolute) of
  ``predict_proba``'s: the exponential of the link function is computed by another library, so
  its last bit may differ (measured: at most 2.2e-16 on the demo model's 20,000 rows).
``engine="onnx"`` with a ``tolerance`` serves a conversion that is not exact, if its largest
difference is within it; the agreement is recorded either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ops.errors import ModelFileError
from ops.modelfiles.manifest import ModelManifest
from ops.modelfiles.onnx_compile import NotCompiledError, compile_model, order_sensitive
from ops.modelfiles.profile import synthetic_rows
from ops.modelfiles.rows import with_value
from reintento_function import contract, onnx_engine
from reintento_function.inference_core import check_rows, describe_model, predict_attributed

EngineName = Literal["auto", "sklearn", "onnx"]
ENGINES: tuple[EngineName, ...] = ("auto", "sklearn", "onnx")
PROBABILITY_TOLERANCE = 1e-12
ENGINE_ASKED = "asked"  # in the engine record: what the upload asked for (ops alone reads it)
ENGINE_ASKED_TOLERANCE = "asked_tolerance"


@dataclass(frozen=True)
class Agreement:
    """How the compiled model's answers compare with the model's on the verification rows."""

    rows: int
    differing: int  # rows whose predict answer differs (a label, or a value's last bit)
    largest_difference: float  # probabilities (classifier) or values (regressor), absolute
    classifier: bool

    def exact(self) -> bool:
        if self.differing:
            return False
        return not self.classifier or self.largest_difference <= PROBABILITY_TOLERANCE

    def words(self) -> str:
        what = "labels" if self.classifier else "values"
        kind = "probability" if self.classifier else "value"
        return (
            f"{self.differing:,} of {self.rows:,} rows' {what} differ, largest {kind} "
            f"difference {self.largest_difference:.3g}"
        )

    def record(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "differing_rows": self.differing,
            "largest_difference": self.largest_difference,
            "probability_tolerance": PROBABILITY_TOLERANCE if self.classifier else None,
        }


@dataclass(frozen=True)
class EngineChoice:
    """The engine that serves a model, why, and the evidence."""

    engine: Literal["sklearn", "onnx"]
    reason: str
    agreement: Agreement | None = None
    tolerance: float | None = None  # asked for with engine="onnx": a non-exact one may serve
    onnx: bytes | None = field(default=None, repr=False)
    asked: str = "auto"  # the engine asked for (an upload asking the same again is unchanged)
    asked_tolerance: float | None = None

    def record(self) -> dict[str, Any]:
        return {
            contract.ENGINE_NAME: self.engine,
            contract.ENGINE_REASON: self.reason,
            ENGINE_ASKED: self.asked,
            ENGINE_ASKED_TOLERANCE: self.asked_tolerance,
            "agreement": self.agreement.record() if self.agreement else None,
            "tolerance": self.tolerance,
        }


def _text_columns(schema: Any) -> set[str]:
    return {f.name for f in schema.features if f.kind != "numeric"} if schema.named else set()


def _answers(estimator: Any, schema: Any, check: Any) -> tuple[dict[int, Any], Any]:
    """Each answered row's prediction (and probabilities) by row, as the function answers."""
    where, answered, _ = predict_attributed(estimator, schema, check)
    proba = answered.probabilities
    return {
        row: (answered.predictions[at], proba[at] if proba is not None else None)
        for row, at in where.items()
    }, proba is not None


def agreement(model: Any, schema: Any, compiled: bytes, rows: Sequence[Any]) -> Agreement:
    """Run the model (whose ``describe_model`` is ``schema``) and its compiled form on ``rows``
    as the function runs them (the rows the row check accepts; a row one engine refuses and
    the other answers differs)."""
    check = check_rows(schema, rows)
    mine, classifier = _answers(model, schema, check)
    if not mine:
        raise NotCompiledError("no verification row passed the row check")
    theirs, _ = _answers(onnx_engine.CompiledModel.load(compiled), schema, check)
    both = sorted(set(mine) & set(theirs))
    apart = set(mine) ^ set(theirs)  # refused by one engine, answered by the other
    differing = len(apart)
    labels = np.asarray([mine[r][0] for r in both])
    got = np.asarray([theirs[r][0] for r in both])
    if classifier:
        differing += int((labels != got).sum())
        gap = np.abs(np.asarray([theirs[r][1] for r in both]) - [mine[r][1] for r in both])
    else:
        labels, got = labels.astype(np.float64), got.astype(np.float64)
        differing += int((~((labels == got) | (np.isnan(labels) & np.isnan(got)))).sum())
        gap = np.abs(got - labels)
        gap[np.isnan(labels) != np.isnan(got)] = np.inf  # a null against a number
        gap[np.isnan(labels) & np.isnan(got)] = 0.0
    largest = float(np.max(gap)) if gap.size else 0.0
    if apart:
        largest = float("inf")
    return Agreement(len(set(mine) | set(theirs)), differing, largest, classifier)


def check_engine(engine: str, tolerance: float | None) -> None:
    """Refuse an engine name or tolerance that cannot be used, naming the fix."""
    if engine not in ENGINES:
        raise ModelFileError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if tolerance is not None:
        if engine != "onnx":
            raise ModelFileError("a tolerance is for engine='onnx' only; drop it, or ask for onnx")
        if not (isinstance(tolerance, int | float) and 0 <= tolerance < float("inf")):
            raise ModelFileError(f"tolerance must be a finite number >= 0, not {tolerance!r}")


def _refused(reason: str) -> ModelFileError:
    return ModelFileError(
        f"the ONNX engine cannot serve this model: {reason}; serve it with scikit-learn "
        "(engine='auto' or 'sklearn'), or with engine='onnx' give a tolerance the differences "
        "fit in"
    )


def choose_engine(
    model: Any,
    rows: Sequence[Any],
    *,
    engine: EngineName = "auto",
    tolerance: float | None = None,
) -> EngineChoice:
    """Compile ``model``, compare on ``rows``, and choose (see the module's doc)."""
    check_engine(engine, tolerance)
    if engine == "sklearn":
        return EngineChoice("sklearn", "scikit-learn engine: asked for")
    try:
        schema = describe_model(model)
        compiled = compile_model(model, _text_columns(schema))
        found = agreement(model, schema, compiled, rows)
    except Exception as err:  # no converter, or one that failed: scikit-learn serves
        why = (
            str(err)
            if isinstance(err, NotCompiledError)
            else (f"the conversion failed ({type(err).__name__}: {str(err)[:200]})")
        )
        if engine == "onnx":
            raise _refused(why) from err
        return EngineChoice("sklearn", f"scikit-learn engine: {why}")
    sensitive = order_sensitive(model)
    if found.exact() and (engine == "onnx" or sensitive is None):
        return EngineChoice(
            "onnx", f"ONNX engine: exact on {found.rows:,} rows", found, None, compiled
        )
    if engine == "onnx" and tolerance is not None and found.largest_difference <= tolerance:
        reason = f"ONNX engine within tolerance {tolerance:g} (asked for): {found.words()}"
        return EngineChoice("onnx", reason, found, tolerance, compiled)
    if engine == "onnx":
        raise _refused(f"ONNX differs: {found.words()}")
    if found.exact():  # exact on these rows, not by construction: not a silent default
        return EngineChoice("sklearn", f"scikit-learn engine: {sensitive}", found)
    return EngineChoice("sklearn", f"scikit-learn engine: ONNX differs: {found.words()}", found)


# --------------------------------------------------------------------------- at upload

VERIFICATION_ROWS = 2_000  # drawn from the profile, besides its sample and the edge rows
EDGE_BASES = 5  # rows each feature's edges (its lowest, highest and null) are set in


def verification_rows(manifest: ModelManifest) -> list[Any]:
    """The rows both engines answer before one is chosen: the profile's sample of real rows,
    ``VERIFICATION_ROWS`` drawn from the profile (nulls at their share), and for each feature
    a few rows with its lowest value, its highest and null (where the model takes null)."""
    profile = manifest.input_profile
    if profile is None:
        return []
    accepted = manifest.features or []
    rows = list(profile.sample or ()) + synthetic_rows(profile, accepted, VERIFICATION_ROWS, 1)
    names = [f.name for f in profile.features]
    nullable = {str(f[contract.FEATURE_NAME]) for f in accepted if f.get(contract.FEATURE_NULLABLE)}
    edges = []
    for feature in profile.features:
        values: list[Any] = [v for v in (feature.low, feature.high) if v is not None]
        if feature.name in nullable:
            values.append(None)
        edges += [with_value(r, names, feature.name, v) for r in rows[:EDGE_BASES] for v in values]
    return rows + edges


def _estimator(path: Path, manifest: ModelManifest) -> Any:
    """The model, loaded here to compile it: only where its own scikit-learn runs."""
    import joblib
    import sklearn

    if manifest.sklearn_version != sklearn.__version__:
        raise NotCompiledError(
            f"compiling needs the model's scikit-learn ({manifest.sklearn_version}) where ops "
            f"runs ({sklearn.__version__})"
        )
    return joblib.load(path)


def engine_for(
    path: Path,
    manifest: ModelManifest,
    engine: EngineName = "auto",
    tolerance: float | None = None,
) -> EngineChoice:
    """The engine that will serve the model file at ``path`` (``choose_engine`` on its
    ``verification_rows``)."""
    chosen = _engine_for(path, manifest, engine, tolerance)
    return replace(chosen, asked=engine, asked_tolerance=tolerance)


def _engine_for(
    path: Path, manifest: ModelManifest, engine: EngineName, tolerance: float | None
) -> EngineChoice:
    if engine == "sklearn":
        return choose_engine(None, [], engine="sklearn")
    rows = verification_rows(manifest)
    try:
        if not rows:
            raise NotCompiledError("the manifest has no profile to draw verification rows from")
        model = _estimator(path, manifest)
    except NotCompiledError as err:
        if engine == "onnx":
            raise _refused(str(err)) from err
        return EngineChoice("sklearn", f"scikit-learn engine: {err}")
    return choose_engine(model, rows, engine=engine, tolerance=tolerance)
