"""Probes with known answers: the model's own rows, with what ``model.predict`` answers for them
(computed where the model's scikit-learn runs), sent to a new function version directly during
its rollout. A version that answers them differently is rolled back before, or while, callers
see it. Probes are qualified calls (the version, not the live alias), so they are not among the
alias's figures the guardrails judge, and no caller's traffic can drown them out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.errors import OpsError
from ops.inputs.payloads import to_rows
from ops.modelfiles.manifest import read_model
from ops.modelfiles.rows import model_rows
from ops.service.function import invoke
from ops.targets import Target
from reintento_function import contract

PROBE_ROWS = 8


@dataclass(frozen=True)
class Probe:
    """Rows of the model's own (its manifest's sample, else drawn from its profile) and the
    answers ``model.predict`` gives them."""

    rows: tuple[Any, ...]
    answers: tuple[Any, ...]

    @classmethod
    def of(cls, path: Path, n: int = PROBE_ROWS) -> Probe:
        rows = to_rows(list(model_rows(path).take(n, seed=3).rows))
        facts = read_model(path, rows)
        answers = list(
            (facts.get(contract.CHECK_REFERENCE) or {}).get(contract.ANSWER_PREDICTIONS) or []
        )
        return cls(tuple(rows), tuple(answers))

    def check(self, target: Target, version: str) -> str | None:
        """Why ``version`` fails the probe (None: it answers every row as ``model.predict``)."""
        if not self.rows or len(self.answers) != len(self.rows):
            return None  # nothing known to compare with (said in the rollout's record)
        lam, name = target.client("lambda"), target.outputs.function_name
        try:
            body = invoke(lam, name, {contract.EVENT_REALTIME: list(self.rows)}, version).body
        except OpsError as err:
            return f"version {version} refused the model's own {len(self.rows)} probe rows: {err}"
        got = body.get(contract.ANSWER_PREDICTIONS)
        if not isinstance(got, list) or len(got) != len(self.rows):
            return f"version {version} did not answer the model's own {len(self.rows)} probe rows"
        wrong = sum(1 for a, b in zip(got, self.answers, strict=True) if not _same(a, b))
        if wrong:
            return (
                f"version {version} answered {wrong} of the model's own {len(self.rows)} probe "
                "rows differently from model.predict on the file uploaded"
            )
        return None


def _same(answer: Any, known: Any) -> bool:
    """A label equal, a value equal to within the last bits (the function's BLAS and libm are
    not this machine's: a correct regressor may differ there, never by more)."""
    if isinstance(answer, float) and isinstance(known, float):
        return math.isclose(answer, known, rel_tol=1e-9, abs_tol=1e-12)
    return bool(answer == known)
