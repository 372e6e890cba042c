"""Before any caller sees a new version: rows as the live model's clients send them go to the
live version and to the new one, directly (qualified calls, not through the alias, so no caller
is involved).

Direct calls are not among the alias's invocations, but a request the new version refuses is
among its invalid requests: the rollout takes those it caused out of the figures it judges.

- A new version whose model expects other inputs (it answers the rows "missing" or "unexpected
  feature": another schema) is refused before traffic: every live client would fail on it.
- How often its predictions agree with the live version's is measured and shown: equal labels
  for a classifier, values within ``Guardrails.agreement_tolerance`` (relative) for a regressor.
  Under ``Guardrails.min_agreement`` the rollout ends before traffic; with no minimum set, an
  agreement under ``WARN_UNDER`` is said in the rollout's record, and traffic decides.

The rows are the live model's own: its manifest (the version stored with it, found by the
manifest sha256 its signed metadata records: a bucket writer cannot substitute other rows), its
real sample rows, else rows drawn from its profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ops.errors import InvalidInputError, OpsError
from ops.inputs.payloads import to_rows
from ops.modelfiles.rows import rows_of
from ops.service.function import invoke
from ops.service.signing import signed_manifest
from ops.targets import Target
from reintento_function import contract

AGREEMENT_ROWS = 100
WARN_UNDER = 0.9  # said in the record when no minimum is set


@dataclass(frozen=True)
class Agreement:
    """How many of ``rows`` rows the new version answered as the live version did;
    ``refused_requests``: requests of this check the new version answered as invalid (the
    function counts them among its invalid requests, which the bake's guardrails read)."""

    rows: int
    agreeing: int
    regressor: bool
    tolerance: float
    refused_requests: int = 0

    @property
    def share(self) -> float:
        return self.agreeing / self.rows if self.rows else 1.0

    def line(self) -> str:
        how = f"values within {self.tolerance:.0%}" if self.regressor else "the same label"
        return (
            f"agrees with the live version on {self.agreeing} of {self.rows} of the live "
            f"model's rows ({self.share:.0%}; {how})"
        )


@dataclass(frozen=True)
class LiveRows:
    """Rows as the live model's clients send them, and whether that model is a regressor."""

    rows: tuple[Any, ...]
    regressor: bool


def live_rows(target: Target, model_version: str, n: int = AGREEMENT_ROWS) -> LiveRows | None:
    """``n`` rows as the clients of the live model (S3 version ``model_version``) send them;
    None when its signed manifest is not found (the agreement is then not measured)."""
    manifest = signed_manifest(target, model_version)
    if manifest is None or manifest.input_profile is None:
        return None
    rows = tuple(to_rows(list(rows_of(manifest).take(n, seed=5).rows)))
    return LiveRows(rows, manifest.regressor)


def _answers(target: Target, version: str, rows: list[Any]) -> list[Any]:
    lam, name = target.client("lambda"), target.outputs.function_name
    body = invoke(lam, name, {contract.EVENT_REALTIME: rows}, version).body
    got = body.get(contract.ANSWER_PREDICTIONS)
    if not isinstance(got, list) or len(got) != len(rows):
        raise OpsError(f"version {version} did not answer {len(rows)} rows")
    return got


def measure(
    target: Target, versions: tuple[str, str], live: LiveRows, tolerance: float
) -> Agreement | str | None:
    """The new version's agreement with the live one on the live model's rows, or why it is
    refused before any traffic (its model expects other inputs, or it fails on rows the live
    one answers); None if the live version does not answer them (nothing to compare)."""
    old_fv, new_fv = versions
    rows = list(live.rows)
    try:
        old = _answers(target, old_fv, rows)
    except OpsError:
        return None
    kept = list(range(len(rows)))
    try:
        new = _answers(target, new_fv, rows)
    except InvalidInputError as err:
        details = [d for d in err.details or [] if isinstance(d, dict)]
        schema = [
            d
            for d in details
            if contract.is_schema_problem(str(d.get(contract.DETAIL_PROBLEM, "")))
        ]
        if schema:
            shown = "; ".join(
                f"{d.get(contract.DETAIL_FIELD)}: {d.get(contract.DETAIL_PROBLEM)}"
                for d in schema[:3]
            )
            return (
                f"version {new_fv}'s model expects other inputs than the live model's clients "
                f"send ({shown}), so it was refused before any caller saw it; if the clients "
                "change too, upload it with rollout='all-at-once' when they do"
            )
        # rows with values it cannot take: traffic judges them
        refused = {d.get(contract.DETAIL_ROW) for d in details}
        kept = [i for i in kept if i not in refused]
        if not kept:
            return None
        try:
            new = _answers(target, new_fv, [rows[i] for i in kept])
        except OpsError as again:
            return f"version {new_fv} failed on the live model's rows before any traffic: {again}"
    except OpsError as err:
        return f"version {new_fv} failed on the live model's rows before any traffic: {err}"
    pairs = list(zip([old[i] for i in kept], new, strict=True))
    agreeing = sum(1 for a, b in pairs if _agree(a, b, live.regressor, tolerance))
    refused_requests = int(len(kept) < len(rows))  # the first request, answered as invalid
    return Agreement(len(pairs), agreeing, live.regressor, tolerance, refused_requests)


def _agree(live: Any, new: Any, regressor: bool, tolerance: float) -> bool:
    if regressor and isinstance(live, int | float) and isinstance(new, int | float):
        return math.isclose(float(new), float(live), rel_tol=tolerance, abs_tol=1e-12)
    return bool(live == new)
