"""`make test` runs the suite on two workers (pytest-xdist): what must stay on one worker does."""

from __future__ import annotations

import re

from ops.modelfiles.versions import PROJECT_ROOT
from tests.conftest import work_unit


def test_the_four_notebooks_are_one_unit_of_work() -> None:
    units = {work_unit(f"notebooks/{name}.ipynb::Cell {n}") for name in (
        "01_deploy", "02_upload_model", "03_test", "04_teardown") for n in (0, 7)}  # fmt: skip
    assert units == {"notebooks"}


def test_a_file_s_tests_are_one_unit_and_files_are_apart() -> None:
    first = "tests/integration/test_own_model_main_job.py"
    assert work_unit(f"{first}::test_a[x::y]") == work_unit(f"{first}::test_b") == first
    assert work_unit("tests/unit/test_display.py::test_a") != first


def test_make_test_runs_the_suite_on_workers() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    recipe = makefile.split("\npytest: setup\n", 1)[1].split("\n", 1)[0]
    assert re.search(r"pytest -n \$\(TEST_WORKERS\)$", recipe), recipe
    assert re.search(r"^TEST_WORKERS \?= [2-9]$", makefile, re.M)
