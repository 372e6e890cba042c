"""The notebooks' kernel talks to papermill over private IPC sockets, not loopback TCP.

jupyter_client's default transport is TCP on 127.0.0.1 without encryption (the kernel says so
on every start): any local user can reach the ports, and messages are only signed. IPC sockets
in a fresh 0700 folder are reachable by this user alone — and the kernel has no reason to warn.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager


class IpcKernelManager(AsyncKernelManager):
    """A kernel manager whose sockets are files in a private folder, removed at cleanup."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._folder = Path(tempfile.mkdtemp(prefix="reintento-kernel-"))  # mode 0700
        self.transport = "ipc"
        self.ip = str(self._folder / "kernel")

    async def _async_interrupt_kernel(self) -> None:
        """No interrupt on the way out. jupyter_client interrupts a kernel before it asks it to
        shut down, in case it is busy; ours is idle then (papermill has waited for every cell),
        and an interrupt that lands while it handles the request makes ipykernel write
        "KeyboardInterrupt caught in kernel." to the user's terminal. A busy kernel still stops:
        the shutdown request goes over the control channel, then SIGTERM after the wait."""
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._folder, ignore_errors=True)
