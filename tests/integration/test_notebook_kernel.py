"""The notebooks' kernel runs on private IPC sockets: no unencrypted loopback TCP, no warning."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from ops.showcase import runner
from ops.showcase.kernel import IpcKernelManager

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [], "source": ["6 * 7"]}
    ],
    "metadata": {"kernelspec": {"name": runner.KERNEL, "display_name": "k", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def test_the_kernel_manager_is_private_ipc() -> None:
    module, _, name = runner.KERNEL_MANAGER.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is IpcKernelManager
    km = IpcKernelManager(kernel_name=runner.KERNEL)
    folder = Path(km.ip).parent
    assert km.transport == "ipc"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    shutil.rmtree(folder)


def test_a_notebook_runs_without_the_tcp_warning(tmp_path: Path) -> None:
    source, target = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    source.write_text(json.dumps(NOTEBOOK))
    script = (
        "import papermill as pm\n"
        f"pm.execute_notebook({str(source)!r}, {str(target)!r}, kernel_name={runner.KERNEL!r},"
        f" kernel_manager_class={runner.KERNEL_MANAGER!r}, progress_bar=False)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr
    outputs = json.loads(target.read_text())["cells"][0]["outputs"]
    assert outputs[0]["data"]["text/plain"] == ["42"]
