"""environment.yml describes the same environment as pyproject.toml for conda users."""

from __future__ import annotations

import re
import tomllib

import yaml

from ops.modelfiles.versions import PROJECT_ROOT


def test_environment_yml_matches_pyproject() -> None:
    # GIVEN both descriptions of the environment
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    # THEN python is the minor version requires-python names (the Lambda image's) and nodejs
    # is the version the README asks for
    python = next(d for d in conda if d.startswith("python"))
    minimum = project["project"]["requires-python"].split(",")[0].removeprefix(">=")
    assert re.fullmatch(r"python=" + re.escape(minimum) + r"(\.\*)?", python), python
    assert any(re.fullmatch(r"nodejs=22(\.\*)?", d) for d in conda)
    # AND the pip part installs this project with every extra, under the same constraints
    extras = ",".join(sorted(project["project"]["optional-dependencies"]))
    assert f"-e .[{extras}]" in pip
    # AND the local target, its own distribution, as make setup installs it
    assert "-e ./local_target" in pip
    assert "-e ./local_target" in (PROJECT_ROOT / "Makefile").read_text()
    assert "-c requirements/constraints.txt" in pip


def test_constraints_pin_every_direct_dependency() -> None:
    # GIVEN the lock of the whole tree
    lock = {}
    for line in (PROJECT_ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            lock[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["dev"]
    # THEN each direct dependency pinned in pyproject has the same version in the lock
    for dep in direct:
        name, _, version = dep.partition("==")
        key = re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).lower()
        assert key in lock, f"{key} missing from constraints.txt"
        if version:
            assert lock[key] == version, key
