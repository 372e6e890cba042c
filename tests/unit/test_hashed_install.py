"""#29: the project environment is installed from a hashed lock, pip itself pinned: a changed or
substituted wheel on the index fails `make setup` instead of running in the operator's shell."""

from __future__ import annotations

import re
from pathlib import Path

from ops.modelfiles.versions import PROJECT_ROOT, read_pins

REQUIREMENTS = PROJECT_ROOT / "requirements"


def _setup_recipe() -> list[str]:
    """The commands of the Makefile's set-up target (its recipe lines, continuations joined)."""
    text = (PROJECT_ROOT / "Makefile").read_text().replace("\\\n", " ")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$(STAMP):"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def _requirements(path: Path) -> dict[str, list[str]]:
    """Each requirement of a pip requirements file and its hashes."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in path.read_text().splitlines():
        pinned = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if pinned:
            current = f"{pinned[1].lower()}=={pinned[2]}"
            found[current] = []
        hashed = re.search(r"--hash=sha256:([0-9a-f]{64})", line)
        if hashed and current:
            found[current].append(hashed[1])
    return found


def test_setup_installs_every_wheel_from_a_hashed_lock() -> None:
    # GIVEN make setup's commands
    installs = [c for c in _setup_recipe() if "pip install" in c]
    assert installs
    for command in installs:
        # THEN each install checks hashes, or installs only local folders without dependencies
        local_only = "--no-deps" in command and "--no-build-isolation" in command
        assert "--require-hashes" in command or local_only, command
        assert "--upgrade pip" not in command, command  # pip itself comes from the hashed lock
    hashed = " ".join(c for c in installs if "--require-hashes" in c)
    assert "requirements/tools.txt" in hashed and "requirements/project.txt" in hashed


def test_the_hashed_locks_pin_every_package_with_its_hashes_at_the_constraints_versions() -> None:
    tools = _requirements(REQUIREMENTS / "tools.txt")
    project = _requirements(REQUIREMENTS / "project.txt")
    # THEN pip is pinned, and every requirement has at least one hash
    assert any(name.startswith("pip==") for name in tools)
    for name, hashes in {**tools, **project}.items():
        assert hashes, f"{name} has no hash"
    # AND the project lock holds the training environment's versions (requirements/constraints)
    constraints = read_pins(REQUIREMENTS / "constraints.txt")
    locked = {n.split("==")[0].replace("_", "-"): n.split("==")[1] for n in project}
    for name, version in constraints.items():
        assert locked.get(name.replace("_", "-")) == version, (name, version, locked.get(name))
