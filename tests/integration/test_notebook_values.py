"""nbval compares what ``ops`` results record, not how they are rendered (notebooks/conftest.py):
a changed rendering passes, a changed value fails, outputs without a record are compared whole."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

import ops
from ops.display import RECORD_MIME
from ops.modelfiles.versions import PROJECT_ROOT

pytestmark = pytest.mark.integration

SOURCE = 'import ops\nops.Settings(stage="x")'


def _notebook(record: dict[str, Any], plain: str) -> dict[str, Any]:
    def cell(n: int, source: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "id": f"c{n}",
            "execution_count": n,
            "metadata": {},
            "source": source,
            "outputs": [
                {
                    "output_type": "execute_result",
                    "execution_count": n,
                    "metadata": {},
                    "data": data,
                }
            ],
        }

    shown = {"text/plain": "an older rendering", "text/html": "<b>older</b>", RECORD_MIME: record}
    return {
        "cells": [cell(1, SOURCE, shown), cell(2, "6 * 7", {"text/plain": plain})],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "p", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def nbval(tmp_path_factory: pytest.TempPathFactory) -> str:
    """GIVEN three notebooks whose saved outputs nbval checks against a fresh run (one nbval run
    with the project's notebooks/conftest.py): the same record under another rendering, a
    different recorded value, and a plain output (no record) that differs."""
    folder = tmp_path_factory.mktemp("nbval")
    same = ops.Settings(stage="x")._repr_mimebundle_()[RECORD_MIME]
    other = ops.Settings(stage="y")._repr_mimebundle_()[RECORD_MIME]
    for name, record, plain in (
        ("same", same, "42"),
        ("wrong", other, "42"),
        ("plain", same, "41"),
    ):
        (folder / f"{name}.ipynb").write_text(json.dumps(_notebook(record, plain)))
    shutil.copy(PROJECT_ROOT / "notebooks" / "conftest.py", folder / "conftest.py")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            "same.ipynb",
            "wrong.ipynb",
            "plain.ipynb",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stdout


def test_a_new_rendering_of_the_same_values_passes(nbval: str) -> None:
    assert "PASSED same.ipynb::Cell 0" in nbval and "PASSED same.ipynb::Cell 1" in nbval, nbval


def test_a_wrong_recorded_value_fails(nbval: str) -> None:
    assert "FAILED wrong.ipynb::Cell 0" in nbval and "stage" in nbval, nbval


def test_an_output_without_a_record_is_compared_whole(nbval: str) -> None:
    assert "PASSED plain.ipynb::Cell 0" in nbval and "FAILED plain.ipynb::Cell 1" in nbval, nbval
