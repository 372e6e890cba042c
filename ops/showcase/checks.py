"""What the test notebook shows a person: deployed vs local predictions, bad-input answers,
latency. Each is one call returning a small result with a table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ops.batch import BatchResult
from ops.display import Card, Shown
from ops.errors import ConfigurationError, InvalidInputError, OpsError
from ops.inputs.payloads import to_rows
from ops.modelfiles.demo_model import prepare_model
from ops.modelfiles.manifest import read_model
from ops.modelfiles.rows import BadCase, ModelRows, bad_cases
from ops.modelfiles.versions import DEFAULT_MODEL_PATH
from ops.observe import percentile
from ops.service.predict import Prediction, predict
from ops.settings import Settings
from reintento_function import contract
from reintento_function.contract import (
    RESULT_ERROR_TYPE,
    RESULT_PREDICTION,
    RESULT_PROBABILITY_PREFIX,
    RESULT_ROW,
)


@dataclass(frozen=True)
class Comparison(Shown):
    """Deployed predictions next to ``model.predict``'s on the same rows, row by row."""

    rows: int
    all_match: bool
    table: pd.DataFrame = field(repr=False, compare=False)
    rows_from: str = field(default="", repr=False, compare=False)
    synthetic: bool = field(default=False, repr=False, compare=False)
    regressor: bool = field(default=False, repr=False, compare=False)
    probabilities: bool = field(default=False, repr=False, compare=False)  # compared too

    def card(self) -> Card:
        differ = int((~self.table[SAME]).sum()) if SAME in self.table else 0
        what = "values" if self.regressor else "labels"
        return Card(
            "Deployed vs local model",
            f"all {self.rows} rows match"
            if self.all_match
            else f"{differ} of {self.rows} rows differ",
            ok=self.all_match,
            key=(
                ("rows", self.rows),
                ("rows that differ", differ),
                ("rows from", self.rows_from or None),
            ),
            notes=(
                f"{what} identical to model.predict's"
                + (", probabilities equal to 1e-12" if self.probabilities else "")
                + "; the table has each row",
                *(
                    ("synthetic rows: made from the model's profile, not real data",)
                    if self.synthetic
                    else ()
                ),
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "all_match": self.all_match,
            "synthetic": self.synthetic,
            "regressor": self.regressor,
        }


def _table(rows: list[Any], names: list[str]) -> pd.DataFrame:
    if rows and isinstance(rows[0], dict):
        return pd.DataFrame(rows)
    return pd.DataFrame([list(r) for r in rows], columns=names or None)


def compare_predictions(
    rows: Any,
    model_path: Path | str = DEFAULT_MODEL_PATH,
    *,
    settings: Settings | None = None,
) -> Comparison:
    """Predict ``rows`` with the deployed function and with ``model.predict`` on the model file
    (read where its own scikit-learn runs); labels or values must be identical."""
    instances = to_rows(rows)
    deployed = predict(instances, settings=settings)
    assert isinstance(deployed, Prediction)
    return _compared(
        rows, instances, list(deployed.predictions), deployed.probabilities, model_path
    )


def compare_batch(
    batch: BatchResult, rows: Any, model_path: Path | str = DEFAULT_MODEL_PATH
) -> Comparison:
    """A batch's predictions next to ``model.predict`` on the same rows (the rows the batch
    predicted; its error rows are the invalid ones)."""
    results = batch.results
    if results is None or len(results) != len(rows):
        raise ConfigurationError(
            "compare a batch whose results were downloaded (download=True), with the rows it was "
            "given"
        )
    predicted = results[results[RESULT_ERROR_TYPE].isna()]
    # the rows as the batch sent them (a table's row has every column; a missing key is null)
    instances = to_rows(rows.batch_input() if isinstance(rows, ModelRows) else rows)
    chosen = [instances[int(i)] for i in predicted[RESULT_ROW]]
    columns = [c for c in predicted.columns if c.startswith(RESULT_PROBABILITY_PREFIX)]
    probabilities = predicted[columns].to_numpy().tolist() if columns else None
    return _compared(rows, chosen, predicted[RESULT_PREDICTION].tolist(), probabilities, model_path)


# the comparison table's own columns (beside the features')
DEPLOYED, LOCAL, SAME = "deployed answer", "model.predict", "same"


def _compared(
    rows: Any,
    instances: list[Any],
    deployed: list[Any],
    deployed_p: Any,
    model_path: Path | str,
) -> Comparison:
    """The comparison of the deployed answers for ``instances`` with ``model.predict``'s."""
    facts = read_model(Path(model_path), instances)
    reference = facts.get(contract.CHECK_REFERENCE) or {}
    names = [str(f[contract.FEATURE_NAME]) for f in facts.get(contract.DESCRIBE_FEATURES) or []]
    table = _table(instances, names)
    local = list(reference.get(contract.ANSWER_PREDICTIONS) or [])
    if len(local) != len(instances):  # the local check refused rows the function predicted
        error = (facts.get(contract.CHECK_ANSWER) or {}).get(contract.ANSWER_ERROR, {})
        refusal = error.get(contract.ERROR_MESSAGE, "refused")
        local = [f"(refused: {refusal})"] * len(instances)
    table[DEPLOYED] = deployed
    table[LOCAL] = local
    matches = table[DEPLOYED] == table[LOCAL]
    local_p = reference.get(contract.ANSWER_PROBABILITIES)
    compared_p = deployed_p is not None and local_p is not None and len(local_p) == len(deployed)
    if compared_p:
        deployed_p, local_p = np.asarray(deployed_p, dtype=float), np.asarray(local_p)
        table["p (deployed)"] = deployed_p.max(axis=1).round(6)
        table["p (model.predict)"] = local_p.max(axis=1).round(6)
        matches &= np.isclose(deployed_p, local_p, rtol=0, atol=1e-12).all(axis=1)
    table[SAME] = matches
    return Comparison(
        rows=len(instances),
        all_match=bool(matches.all()),
        table=table,
        rows_from=getattr(rows, "described", ""),
        synthetic=bool(getattr(rows, "synthetic", False)),
        regressor=facts.get(contract.ANSWER_CLASSES) is None,
        probabilities=compared_p,
    )


@dataclass(frozen=True)
class BadInputAnswers(Shown):
    """How the deployed function answered bad requests made for this model (each one that
    applies must be refused as InvalidInput; one that does not apply says why)."""

    cases: int
    all_refused: bool
    table: pd.DataFrame = field(repr=False, compare=False)

    @property
    def applicable(self) -> int:
        return int(self.table["applies"].sum())

    def card(self) -> Card:
        return Card(
            "Bad input",
            f"all {self.applicable} bad requests that apply to this model refused with InvalidInput"
            if self.all_refused
            else "some bad requests were not refused as InvalidInput",
            ok=self.all_refused,
            key=tuple(
                (
                    str(r["case"]),
                    f"{r['error']}: {r['field']}: {r['problem']}"
                    if r["applies"]
                    else f"does not apply: {r['problem']}",
                )
                for _, r in self.table.iterrows()
            ),
        )

    def record(self) -> dict[str, Any]:
        applies = self.table[self.table["applies"]]
        return {
            "cases": self.cases,
            "applicable": self.applicable,
            "all_refused": self.all_refused,
            "errors": dict(zip(applies["case"], applies["error"], strict=True)),
            "fields": {
                case: None if pd.isna(name) or name == "" else str(name)
                for case, name in zip(applies["case"], applies["field"], strict=True)
            },
        }


def _answer(case: BadCase, settings: Settings | None) -> dict[str, Any]:
    """How the deployed function answered one bad request (or why it was not sent)."""
    row: dict[str, Any] = {"case": case.case, "applies": case.rows is not None}
    if case.rows is None:
        return {**row, "error": "", "field": "", "problem": case.why_not}
    try:
        predict(case.rows, settings=settings)
    except InvalidInputError as err:
        detail = (err.details or [{}])[0]
        return {
            **row,
            "error": err.error_type,
            "field": detail.get(contract.DETAIL_FIELD),
            "problem": detail.get(contract.DETAIL_PROBLEM),
        }
    except OpsError as err:
        return {**row, "error": type(err).__name__, "field": "", "problem": str(err)}
    return {**row, "error": "(accepted)", "field": "", "problem": ""}


def bad_input_examples(
    good_row: Any,
    model_path: Path | str = DEFAULT_MODEL_PATH,
    *,
    settings: Settings | None = None,
) -> BadInputAnswers:
    """Send the bad requests that fit this model (``ops.modelfiles.rows.bad_cases``: built from
    ``good_row`` and the model's manifest); each answer names row, field and problem."""
    manifest = prepare_model(Path(model_path))
    good = to_rows(good_row)[0]
    table = pd.DataFrame([_answer(case, settings) for case in bad_cases(manifest, good)])
    refused = table[table["applies"]]["error"] == contract.INVALID_INPUT
    return BadInputAnswers(len(table), bool(refused.all()), table)


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
