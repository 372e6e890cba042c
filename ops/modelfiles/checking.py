"""check_model: what the function will answer for a model file, and for rows, before any upload.

    ops.check_model("models/mejor_modelo.pkl", rows="sample.csv")
    python -m ops check-model models/mejor_modelo.pkl --rows sample.jsonl   # exit 0, or 2

The model is read where its own scikit-learn runs (``ops.modelfiles.local_model``) by the
function's own code (``reintento_function.check_model``): it is accepted, or refused with the
function's reason (saved with another scikit-learn than the function's, not a readable pickle, no
``predict``, not fitted). Rows (a CSV, Parquet or JSON-lines file, a frame or a list) get the
function's realtime answer: predictions, or the rows and fields it refuses and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ops.display import Card, Shown
from ops.errors import ModelFileError, ModelVersionMismatchError
from ops.inputs.payloads import to_rows
from ops.modelfiles.local_model import function_sklearn, mismatch_advice, saved_with
from ops.modelfiles.manifest import ModelManifest, accepts_words, describe_file, read_model
from ops.modelfiles.versions import DEFAULT_MODEL_PATH
from reintento_function import contract

SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class ModelCheck(Shown):
    """The function's verdict on a model file (and on rows, if given)."""

    file: str
    accepted: bool
    reason: str  # why it is refused ("" when accepted)
    saved_with: str | None
    function_runs: str
    rows: int = 0
    refused_rows: int = 0
    manifest: ModelManifest | None = field(default=None, repr=False, compare=False)
    problems: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    predictions: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.accepted and self.refused_rows == 0

    def card(self) -> Card:
        if not self.accepted:
            headline = f"refused: {self.reason}"
        elif self.refused_rows:
            headline = (
                f"model accepted; {self.refused_rows} of {self.rows} rows invalid (a realtime "
                "request with them is refused whole; a batch answers each row)"
            )
        else:
            headline = "accepted: the function will serve it" + (
                f" and answer all {self.rows} rows" if self.rows else ""
            )
        manifest = self.manifest
        features = (manifest.features if manifest else None) or []
        return Card(
            "Model check",
            headline,
            ok=self.ok,
            key=(
                ("file", self.file),
                ("saved with", f"scikit-learn {self.saved_with or '?'}"),
                ("function runs", f"scikit-learn {self.function_runs}"),
                ("estimator", manifest.estimator if manifest else None),
                ("rows", self._valid()),
            ),
            details=(
                *((f"feature {f[contract.FEATURE_NAME]}", accepts_words(f)) for f in features),
                *self._problem_lines(),
            ),
            notes=self._hint(),
        )

    def _valid(self) -> str | None:
        return f"{self.rows - self.refused_rows} of {self.rows} valid" if self.rows else None

    def _problem_lines(self) -> tuple[tuple[str, str], ...]:
        if self.problems is None:
            return ()
        shown = self.problems.head(SHOWN_PROBLEMS)
        columns = zip(*(shown[c] for c in _DETAIL_COLUMNS), strict=True)
        lines = tuple((f"row {row}", f"{name}: {problem}") for row, name, problem in columns)
        more = len(self.problems) - len(shown)
        return lines + ((("more", f"{more} more problem(s) not shown"),) if more else ())

    def _hint(self) -> tuple[str, ...]:
        """Columns every refused row has but the model does not take (a label, an id)."""
        if self.problems is None or not len(self.problems):
            return ()
        extra = self.problems[self.problems[contract.DETAIL_PROBLEM] == contract.PROBLEM_UNEXPECTED]
        if extra.empty:
            return ()
        names = ", ".join(sorted({str(f) for f in extra[contract.DETAIL_FIELD]}))
        return (
            f"{names}: not features of the model; leave them out of the rows sent (profile-model "
            "and notebook 03's ROWS leave such columns out by themselves)",
        )

    def record(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "rows": self.rows,
            "refused_rows": self.refused_rows,
        }


_DETAIL_COLUMNS = (contract.DETAIL_ROW, contract.DETAIL_FIELD, contract.DETAIL_PROBLEM)


def _instances(rows: Any) -> list[Any] | None:
    from ops.inputs.batch_io import read_rows

    if rows is None:
        return None
    return to_rows(read_rows(rows) if isinstance(rows, str | Path) else rows)


def check_model(path: Path | str = DEFAULT_MODEL_PATH, *, rows: Any = None) -> ModelCheck:
    """What the function will answer: the model accepted or refused (why); with ``rows``, their
    predictions or the rows and fields it refuses."""
    path = Path(path)
    saved, runs = (saved_with(path) if path.is_file() else None), function_sklearn()
    instances = _instances(rows)
    try:
        if not path.is_file():
            raise ModelFileError(f"no model file at {path}; save your model there with joblib.dump")
        if saved and saved != runs:
            raise ModelVersionMismatchError(mismatch_advice(path, saved, runs))
        manifest = describe_file(path)
        if instances and not manifest.named:  # a table's rows, by position, as lists
            instances = [list(r.values()) if isinstance(r, dict) else r for r in instances]
        facts = read_model(path, instances)
    except (ModelFileError, ModelVersionMismatchError) as err:
        return ModelCheck(
            file=path.name, accepted=False, reason=str(err), saved_with=saved, function_runs=runs
        )
    answer = facts.get(contract.CHECK_ANSWER) or {}
    error = answer.get(contract.ANSWER_ERROR) if instances is not None else None
    details = pd.DataFrame(
        (error or {}).get(contract.ERROR_DETAILS) or [], columns=list(_DETAIL_COLUMNS)
    )
    refused = int(facts.get(contract.CHECK_REFUSED_ROWS) or 0) if error else 0
    return ModelCheck(
        file=path.name,
        accepted=True,
        reason="",
        saved_with=saved,
        function_runs=runs,
        rows=len(instances or []),
        refused_rows=refused,
        manifest=manifest,
        problems=details if error else None,
        predictions=tuple(answer.get(contract.ANSWER_PREDICTIONS) or ()),
    )
