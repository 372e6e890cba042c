"""The function's runtime is pinned to exactly the training environment's model libraries."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ops.modelfiles.versions import (
    LAMBDA_DIR,
    LAMBDA_REQUIREMENTS,
    MODEL_LIBRARIES,
    PROJECT_ROOT,
    installed,
    read_pins,
)


def test_lambda_pins_equal_training_environment() -> None:
    # GIVEN the function's requirements and this (training) environment
    pins = read_pins(LAMBDA_REQUIREMENTS)
    # WHEN the model libraries are compared
    trained = installed(MODEL_LIBRARIES)
    # THEN every one is pinned to exactly the version the model is trained with
    for name, version in trained.items():
        assert pins.get(name) == version, f"{name}: lambda pins {pins.get(name)}, trained {version}"


def test_lambda_pins_equal_project_pins() -> None:
    # GIVEN the project's own pins
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    project_pins = {}
    for dep in project["project"]["dependencies"]:
        name, _, version = dep.partition("==")
        project_pins[re.sub(r"\[.*\]", "", name).lower()] = version
    # THEN every library the function pins that the project also pins has the same version
    for name, version in read_pins(LAMBDA_REQUIREMENTS).items():
        if name in project_pins:
            assert project_pins[name] == version, name


def test_read_pins_parses_exact_pins_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a requirements file with comments, ranges and extras
    path = tmp_path / "r.txt"
    path.write_text("# c\nScikit_Learn==1.0 # x\nfoo>=2\nmoto[server]==5.2.5\n\n")
    # THEN only exact pins are read, by canonical name
    assert read_pins(path) == {"scikit-learn": "1.0", "moto": "5.2.5"}


def test_dockerfile_base_image_is_pinned_by_tag() -> None:
    # GIVEN the function's Dockerfile
    text = (LAMBDA_DIR / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert base is not None
    # THEN it is the Lambda Python 3.12 base image, with a dated tag (not the floating 3.12)
    assert re.fullmatch(
        r"public\.ecr\.aws/lambda/python:3\.12\.\d{4}\.\d{2}\.\d{2}\.\d{2}", base.group(1)
    )
    assert 'CMD ["reintento_function.lambda_predict_reintento.handler"]' in text


def locked_hashes(path: Path) -> dict[str, list[str]]:
    """name -> its hashes, from a hashed lock (`name==version \\` then `--hash=sha256:...`)."""
    locked: dict[str, list[str]] = {}
    name = ""
    for line in path.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if pin:
            name = f"{pin.group(1).lower().replace('_', '-')}=={pin.group(2)}"
            locked[name] = []
        elif "--hash=sha256:" in line and name:
            locked[name].append(line.split("--hash=sha256:")[1].split()[0])
    return locked


def test_image_lock_is_in_step_with_requirements_and_training() -> None:
    # GIVEN the image's hashed lock, its requirements and the training environment's pins
    locked = locked_hashes(LAMBDA_DIR / "requirements.lock")
    training = read_pins(PROJECT_ROOT / "requirements" / "constraints.txt")
    versions = dict(pin.split("==") for pin in locked)
    # THEN every requirement is locked at its pinned version
    for name, version in read_pins(LAMBDA_REQUIREMENTS).items():
        assert versions.get(name) == version, f"{name}: run `make lock`"
    # AND every locked package (the whole tree) is the training environment's version
    for name, version in versions.items():
        assert training.get(name) == version, f"{name}=={version} vs training {training.get(name)}"
    # AND each has hashes (x86_64 and arm64 wheels: more than one for compiled packages)
    assert all(hashes for hashes in locked.values())
    assert len(locked[f"numpy=={versions['numpy']}"]) > 2


def test_image_installs_the_lock_with_hashes_checked() -> None:
    text = (LAMBDA_DIR / "Dockerfile").read_text()
    assert re.search(
        r"^RUN pip install .*--require-hashes.* -r \$\{LAMBDA_TASK_ROOT\}/requirements\.lock$",
        text,
        re.MULTILINE,
    )
    assert "requirements.txt" not in text.split("FROM", 1)[1]  # the lock, not the loose file
    # AND from wheels only: no source distribution's build script runs in the image build
    # (AWS parity III, item 15; pip's --only-binary)
    install = next(line for line in text.splitlines() if line.startswith("RUN pip install"))
    assert "--only-binary=:all:" in install.split()
