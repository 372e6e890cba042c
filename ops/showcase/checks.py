"""What the test notebook shows a person: deployed vs local predictions, bad-input answers,
latency. Each is one call returning a small result with a table."""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from ops.display import Card, Shown
from ops.errors import InvalidInputError, OpsError
from ops.modelfiles.demo_model import DEFAULT_MODEL_PATH
from ops.observe import percentile
from ops.predict import Prediction, predict
from ops.settings import Settings


@dataclass(frozen=True)
class Comparison(Shown):
    """Deployed predictions next to the local model's, row by row."""

    rows: int
    all_match: bool
    table: pd.DataFrame = field(repr=False, compare=False)

    def card(self) -> Card:
        differ = int((~self.table["match"]).sum()) if "match" in self.table else 0
        return Card(
            "Deployed vs local model",
            f"all {self.rows} rows match"
            if self.all_match
            else f"{differ} of {self.rows} rows differ",
            ok=self.all_match,
            key=(("rows", self.rows), ("rows that differ", differ)),
            notes=("labels equal, probabilities equal to 1e-12; `.table` has each row",),
        )

    def record(self) -> dict[str, Any]:
        return {"rows": self.rows, "all_match": self.all_match}


def compare_predictions(
    rows: list[dict[str, Any]],
    model_path: Path | str = DEFAULT_MODEL_PATH,
    *,
    settings: Settings | None = None,
) -> Comparison:
    """Predict ``rows`` with the deployed function and with the local file; they must match."""
    deployed = predict(rows, settings=settings)
    assert isinstance(deployed, Prediction)
    local = joblib.load(Path(model_path))
    frame = pd.DataFrame(rows)
    table = frame.copy()
    table["deployed"] = list(deployed.predictions)
    table["local"] = local.predict(frame).tolist()
    matches = table["deployed"] == table["local"]
    if deployed.probabilities is not None and hasattr(local, "predict_proba"):
        local_p = local.predict_proba(frame)
        deployed_p = np.asarray(deployed.probabilities)
        table["p_deployed"] = deployed_p[:, -1].round(6)
        table["p_local"] = local_p[:, -1].round(6)
        matches &= np.isclose(deployed_p, local_p, rtol=0, atol=1e-12).all(axis=1)
    table["match"] = matches
    return Comparison(len(rows), bool(matches.all()), table)


@dataclass(frozen=True)
class BadInputAnswers(Shown):
    """How the deployed function answered a few bad requests (all must be InvalidInput)."""

    cases: int
    all_refused: bool
    table: pd.DataFrame = field(repr=False, compare=False)

    def card(self) -> Card:
        return Card(
            "Bad input",
            f"all {self.cases} bad requests refused with InvalidInput"
            if self.all_refused
            else "some bad requests were not refused as InvalidInput",
            ok=self.all_refused,
            key=tuple(
                (str(r["case"]), f"{r['error']}: {r['problem']}") for _, r in self.table.iterrows()
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "all_refused": self.all_refused,
            "errors": dict(zip(self.table["case"], self.table["error"], strict=True)),
        }


def _bad_cases(good: dict[str, Any]) -> dict[str, list[Any]]:
    missing = copy.deepcopy(good)
    missing.pop("latencia_ms", None)
    return {
        "missing feature": [missing],
        "unknown category": [dict(good, region="mars-1")],
        "string for a number": [dict(good, latencia_ms="fast")],
        "NaN": [dict(good, carga_servidor=math.nan)],
        "extra feature": [dict(good, color="rojo")],
        "empty request": [],
    }


def bad_input_examples(
    good_row: dict[str, Any], *, settings: Settings | None = None
) -> BadInputAnswers:
    """Send a few broken variants of ``good_row``; each answer names row, field and problem."""
    records = []
    for case, rows in _bad_cases(good_row).items():
        try:
            predict(rows, settings=settings)
            records.append({"case": case, "error": "(accepted)", "field": "", "problem": ""})
        except InvalidInputError as err:
            detail = (err.details or [{}])[0]
            records.append(
                {
                    "case": case,
                    "error": err.error_type,
                    "field": detail.get("field"),
                    "problem": detail.get("problem"),
                }
            )
        except OpsError as err:
            records.append(
                {"case": case, "error": type(err).__name__, "field": "", "problem": str(err)}
            )
    table = pd.DataFrame(records)
    return BadInputAnswers(len(records), bool((table["error"] == "InvalidInput").all()), table)


@dataclass(frozen=True)
class Latency(Shown):
    """Client-side latency of realtime calls (ms), first call first."""

    calls: int
    p50_ms: float
    p99_ms: float
    samples_ms: tuple[float, ...] = field(repr=False, compare=False)

    def card(self) -> Card:
        return Card(
            "Latency",
            f"p50 {self.p50_ms} ms, p99 {self.p99_ms} ms over {self.calls} calls",
            key=(
                ("calls", self.calls),
                ("p50", f"{self.p50_ms} ms"),
                ("p99", f"{self.p99_ms} ms"),
                ("first call", f"{self.samples_ms[0]:.1f} ms" if self.samples_ms else None),
            ),
            notes=("round trips measured here, client side",),
        )

    def record(self) -> dict[str, Any]:
        return {"calls": self.calls, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms}


def measure_latency(
    calls: int, rows: list[dict[str, Any]], *, settings: Settings | None = None
) -> Latency:
    """Invoke ``calls`` times with ``rows`` and time each round trip."""
    samples = []
    for _ in range(calls):
        result = predict(rows, settings=settings)
        assert isinstance(result, Prediction)
        samples.append(result.latency_ms)
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    return Latency(calls, round(p50, 1), round(p99, 1), tuple(samples))
