"""Moves of the live alias that must not overwrite someone else's (``live_model.route`` with
Lambda's RevisionId), and that are no conflict when the move was our own, applied but its answer
lost (the SDK retried it with the same RevisionId)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

import ops
from ops.service import live_model
from ops.targets import Target


class FakeLambda:
    """An alias whose UpdateAlias answers 412 (its RevisionId moved on), as Lambda does."""

    def __init__(self, version: str, weights: dict[str, float]) -> None:
        self.alias = {
            "FunctionVersion": version,
            "RoutingConfig": {"AdditionalVersionWeights": weights},
            "RevisionId": "r2",
        }

    def update_alias(self, **_: Any) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "stale"}}, "UpdateAlias"
        )

    def get_alias(self, **_: Any) -> dict[str, Any]:
        return self.alias


def _target(lam: FakeLambda) -> Target:
    fake = SimpleNamespace(client=lambda service: lam, outputs=SimpleNamespace(function_name="f"))
    return cast(Target, fake)


def test_our_own_applied_move_is_no_conflict() -> None:
    # GIVEN the alias already as this move asks (its first try went through, the answer lost)
    lam = FakeLambda("7", {"8": 0.2})
    # THEN the retried move's 412 is no conflict: the new RevisionId is taken
    assert live_model.route(_target(lam), "7", "8", 0.2, revision="r1") == "r2"


def test_someone_elses_move_is_refused() -> None:
    # GIVEN someone else moved the alias elsewhere since we read it
    lam = FakeLambda("6", {})
    # THEN our move is refused, saying so, and nothing is overwritten
    with pytest.raises(ops.ConcurrentChangeError, match="changed by someone else"):
        live_model.route(_target(lam), "7", "8", 0.2, revision="r1")
