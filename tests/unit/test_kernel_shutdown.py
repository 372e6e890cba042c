"""The notebooks' kernel is not interrupted on its way out (ops.showcase.kernel): an interrupt
that lands while it handles the shutdown request makes ipykernel print "KeyboardInterrupt
caught in kernel." to the terminal of a run that went well (seen in CI)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jupyter_client.manager import AsyncKernelManager

from ops.showcase.kernel import IpcKernelManager


def test_a_kernel_being_shut_down_is_not_interrupted_but_one_running_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    interrupted: list[bool] = []

    async def interrupt(self: Any) -> None:
        interrupted.append(self.shutting_down)

    monkeypatch.setattr(AsyncKernelManager, "_async_interrupt_kernel", interrupt)
    manager = IpcKernelManager()
    try:
        manager.shutting_down = True
        asyncio.run(manager._async_interrupt_kernel())
        assert interrupted == []
        # a cell that runs past its timeout is still interrupted (nbclient asks for it)
        manager.shutting_down = False
        asyncio.run(manager._async_interrupt_kernel())
        assert interrupted == [False]
    finally:
        asyncio.run(manager._async_cleanup_resources())
