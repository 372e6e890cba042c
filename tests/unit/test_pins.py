"""The function's runtime is pinned to exactly the training environment's model libraries."""

from __future__ import annotations

import re
import tomllib

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
    assert 'CMD ["lambda_predict_reintento.handler"]' in text
