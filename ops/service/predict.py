"""predict: realtime predictions from the deployed function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, overload

import pandas as pd

from ops.aws.faults import user_facing
from ops.display import Card, Plan, Shown
from ops.errors import InvalidInputError
from ops.inputs.payloads import non_finite_cells, to_rows
from ops.service.function import predict_rows, request_payload
from ops.settings import Settings
from ops.targets import target_for
from reintento_function import contract


@dataclass(frozen=True)
class Prediction(Shown):
    """Predictions in row order, with class probabilities for classifiers."""

    predictions: tuple[Any, ...]
    probabilities: tuple[tuple[float, ...], ...] | None
    classes: tuple[Any, ...] | None
    model_version: str
    model_sha256: str
    latency_ms: float = field(repr=False, compare=False)

    def card(self) -> Card:
        shown = [str(p) for p in self.predictions[:10]]
        more = f" (first 10 of {len(self.predictions):,})" if len(self.predictions) > 10 else ""
        return Card(
            "Prediction",
            f"{len(self.predictions):,} row(s){more}",
            key=(
                ("predictions", ", ".join(shown)),
                ("classes", [str(c) for c in self.classes or []]),
            ),
            details=(
                ("model version", self.model_version),
                ("model sha256", self.model_sha256),
                ("round trip", f"{self.latency_ms:.1f} ms"),
            ),
            python_notes=("`.as_frame()` has every row with its probabilities",),
            cli_notes=(
                ()
                if self.probabilities is None
                else ("`--probabilities` shows every row with its probabilities",)
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "classes": self.classes,
            "model_version": self.model_version,
            "model_sha256": self.model_sha256,
        }

    def as_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({contract.RESULT_PREDICTION: list(self.predictions)})
        if self.probabilities is not None and self.classes is not None:
            for i, label in enumerate(self.classes):
                frame[f"{contract.RESULT_PROBABILITY_PREFIX}{label}"] = [
                    p[i] for p in self.probabilities
                ]
        return frame


@overload
def predict(
    rows: Any, *, dry_run: Literal[False] = False, settings: Settings | None = None
) -> Prediction: ...


@overload
def predict(rows: Any, *, dry_run: Literal[True], settings: Settings | None = None) -> Plan: ...


@user_facing
def predict(
    rows: Any, *, dry_run: bool = False, settings: Settings | None = None
) -> Prediction | Plan:
    """Predict rows (dict, list of dicts/lists, or DataFrame) with the deployed function.

    Bad rows raise ``InvalidInputError`` naming row, field and problem; a payload over the
    synchronous limit raises ``PayloadTooLargeError`` (use ``run_batch``).
    """
    instances = to_rows(rows)
    if not instances:
        raise InvalidInputError(  # the function's own refusal, without a call
            f"'{contract.EVENT_REALTIME}' is empty: send at least one row",
            error_type=contract.INVALID_INPUT,
            details=[
                {
                    contract.DETAIL_ROW: None,
                    contract.DETAIL_FIELD: contract.EVENT_REALTIME,
                    contract.DETAIL_PROBLEM: "empty",
                }
            ],
        )
    bad = non_finite_cells(instances)
    if bad:
        count = len({b[contract.DETAIL_ROW] for b in bad})
        raise InvalidInputError(
            f"{count} of {len(instances)} rows are invalid; fix them and resend",
            error_type=contract.INVALID_INPUT,
            details=bad,
        )
    payload = request_payload({contract.EVENT_REALTIME: instances})  # too large: no call
    target = target_for(settings)
    if dry_run:
        return Plan(
            "predict",
            target.settings.target,
            (f"invoke the function with {len(instances)} row(s)",),
        )
    answer = predict_rows(target, payload)
    return Prediction(
        answer.predictions,
        answer.probabilities,
        answer.classes,
        answer.model.version_id,
        answer.model.sha256,
        answer.latency_ms,
    )
