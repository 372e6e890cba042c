"""A function's environments never run with expired role credentials: new environments get fresh
ones, and an environment whose credentials are about to expire takes no new invocation
(``reintento_local.environment``: ``MintedCredentials``, ``Pool``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

from reintento_local.environment import (
    REFRESH_BEFORE_SECONDS,
    ExecutionEnvironment,
    MintedCredentials,
    Pool,
)
from reintento_local.iam_enforcement import RoleCredentials


@dataclass
class FakeEnvironment:
    """What the pool asks of an environment (no process)."""

    credentials_expire_at: float
    alive: bool = True
    killed: list[bool] = field(default_factory=list)

    def kill(self) -> None:
        self.killed.append(True)


@dataclass(frozen=True)
class Spec:
    max_environments: int = 2


def test_new_credentials_are_minted_before_the_old_ones_expire() -> None:
    # GIVEN role credentials that expire in an hour
    lifetimes = iter([3600.0, 3600.0])
    minted: list[RoleCredentials] = []

    def mint() -> RoleCredentials:
        minted.append(RoleCredentials({"AWS_SESSION_TOKEN": str(len(minted))}, 0.0))
        return RoleCredentials(minted[-1].env, time.time() + next(lifetimes))

    credentials = MintedCredentials(mint)
    # THEN the first are reused while far from their expiry
    first = credentials.current()
    assert credentials.current() is first and len(minted) == 1
    # AND new ones are minted once the current would expire within the refresh margin
    second = credentials.current()  # still the first: an hour left
    assert second is first
    credentials._current = RoleCredentials(first.env, time.time() + 600)  # ten minutes left
    fresh = credentials.current()
    assert fresh is not first and len(minted) == 2
    assert fresh.expires_at - time.time() > REFRESH_BEFORE_SECONDS


def test_an_environment_about_to_expire_is_replaced() -> None:
    # GIVEN a pool whose idle environment's credentials expire within the refresh margin
    made: list[FakeEnvironment] = []

    def factory() -> ExecutionEnvironment:
        made.append(FakeEnvironment(time.time() + 12 * 3600))
        return cast(ExecutionEnvironment, made[-1])

    pool = Pool(cast(Any, Spec()), factory)
    expiring = FakeEnvironment(time.time() + REFRESH_BEFORE_SECONDS - 60)
    pool.count = 1
    pool.idle.append(cast(ExecutionEnvironment, expiring))
    # WHEN an invocation needs an environment
    chosen = pool.acquire()
    # THEN the expiring one is killed and a new one, with fresh credentials, is made
    assert expiring.killed == [True]
    assert chosen is made[0] and pool.count == 1
    # AND an environment with hours left is reused as it is
    pool.release(chosen, healthy=True)
    assert pool.acquire() is chosen and len(made) == 1
