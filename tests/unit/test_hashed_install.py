"""#29: the project environment is installed from a hashed lock, pip itself pinned: a changed or
substituted wheel on the index fails `make setup` instead of running in the operator's shell."""

from __future__ import annotations

from ops.modelfiles.versions import PROJECT_ROOT, read_pins
from tests.unit.test_pins import locked_hashes

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
    tools = locked_hashes(REQUIREMENTS / "tools.txt")
    project = locked_hashes(REQUIREMENTS / "project.txt")
    # THEN pip is pinned, and every requirement has at least one hash
    assert any(name.startswith("pip==") for name in tools)
    for name, hashes in {**tools, **project}.items():
        assert hashes, f"{name} has no hash"
    # AND the project lock holds the training environment's versions (requirements/constraints)
    constraints = read_pins(REQUIREMENTS / "constraints.txt")
    locked = dict(n.split("==") for n in project)
    for name, version in constraints.items():
        key = name.lower().replace("_", "-")
        assert locked.get(key) == version, (name, version, locked.get(key))
