"""predict: realtime predictions from the deployed function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ops.errors import InvalidInputError
from ops.invoke import invoke_function
from ops.payloads import non_finite_cells, to_rows
from ops.plan import Plan
from ops.settings import Settings
from ops.target import target_for


@dataclass(frozen=True)
class Prediction:
    """Predictions in row order, with class probabilities for classifiers."""

    predictions: tuple[Any, ...]
    probabilities: tuple[tuple[float, ...], ...] | None
    classes: tuple[Any, ...] | None
    model_version: str
    model_sha256: str
    latency_ms: float = field(repr=False, compare=False)

    def as_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"prediction": list(self.predictions)})
        if self.probabilities is not None and self.classes is not None:
            for i, label in enumerate(self.classes):
                frame[f"p_{label}"] = [p[i] for p in self.probabilities]
        return frame


def predict(
    rows: Any, *, dry_run: bool = False, settings: Settings | None = None, **overrides: Any
) -> Prediction | Plan:
    """Predict rows (dict, list of dicts/lists, or DataFrame) with the deployed function.

    Bad rows raise ``InvalidInputError`` naming row, field and problem; a payload over the
    synchronous limit raises ``PayloadTooLargeError`` (use ``run_batch``).
    """
    instances = to_rows(rows)
    bad = non_finite_cells(instances)
    if bad:
        count = len({b["row"] for b in bad})
        raise InvalidInputError(
            f"{count} of {len(instances)} rows are invalid; fix them and resend",
            error_type="InvalidInput",
            details=bad,
        )
    target = target_for(settings, **overrides)
    if dry_run:
        return Plan(
            "predict",
            target.settings.target,
            (f"invoke the function with {len(instances)} row(s)",),
        )
    answer = invoke_function(target, {"instances": instances})
    body = answer.body
    probabilities = body.get("probabilities")
    model = body.get("model", {})
    return Prediction(
        tuple(body["predictions"]),
        tuple(tuple(p) for p in probabilities) if probabilities is not None else None,
        tuple(body["classes"]) if body.get("classes") is not None else None,
        str(model.get("version_id")),
        str(model.get("sha256")),
        answer.latency_ms,
    )
