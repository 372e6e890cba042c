"""A quiet set-up: installing the project, as ``make setup`` does, prints no warning of its own
(this machine's own pip settings may still speak: their lines are told apart)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ops.modelfiles.versions import PROJECT_ROOT


def test_installing_the_project_prints_no_warning_of_its_own(tmp_path: Path) -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    found = re.search(r'PYTHONWARNINGS="([^"]+)"', makefile)
    assert found is not None  # the one known, harmless warning the Makefile leaves out
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
         "-e", str(PROJECT_ROOT / "local_target"), "-e", str(PROJECT_ROOT)],
        env={**os.environ, "PYTHONWARNINGS": found.group(1)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    own = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        # this machine's pip configuration (its find-links folders), not the project's
        if re.search(r"warn|deprecat", line, re.I)
        and "Location 'file:" not in line
        and "pip version" not in line
    ]
    assert own == [], own
