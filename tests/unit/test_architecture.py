"""The architecture holds: the local target is its own package that never imports the toolkit,
the function imports neither, ops's packages import no circle (import-linter contracts in
pyproject.toml, run by ``make lint``), and ops's top level stays small."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops.modelfiles.versions import PROJECT_ROOT

# where each root package lives in the project (the function's and the local target's beside
# their own build files)
PACKAGES = {
    "ops": PROJECT_ROOT / "ops",
    "reintento_local": PROJECT_ROOT / "local_target" / "reintento_local",
    "reintento_function": PROJECT_ROOT / "lambda" / "reintento_function",
    "infra": PROJECT_ROOT / "infra",
}
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy(tmp_path: Path) -> Path:
    for name, source in PACKAGES.items():
        shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("cdk.out", "*.pyc"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},  # the copies, ahead of the installed ones
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ops_top_level_holds_at_most_18_modules() -> None:
    # a promise of an earlier issue: the verbs, settings, errors, display and CLI only; the rest
    # lives in sub-packages named for what they do. Packages count: an import of ops.X is a
    # top-level module whether X is a file or a folder (counting files only let it grow to 23)
    ops = PROJECT_ROOT / "ops"
    modules = sorted(
        p.name
        for p in ops.iterdir()
        if (p.suffix == ".py" and p.is_file()) or (p / "__init__.py").is_file()
    )
    assert len(modules) <= 18, modules


def test_the_local_target_is_its_own_distribution() -> None:
    # GIVEN the local target's folder
    folder = PROJECT_ROOT / "local_target"
    # THEN it has its own build file naming its package, and make setup installs it
    assert 'name = "reintento-local"' in (folder / "pyproject.toml").read_text()
    assert (folder / "reintento_local" / "__init__.py").is_file()
    assert not (PROJECT_ROOT / "ops" / "local").exists()
    assert "-e ./local_target" in (PROJECT_ROOT / "Makefile").read_text()


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("reintento_local/errors.py", "import ops.errors", "never imports the toolkit"),
        ("reintento_function/contract.py", "import reintento_local", "imports neither"),
        ("ops/targets/aws.py", "import ops.targets.local", "never on the other"),
        ("ops/errors.py", "import ops.targets", "import no circle"),
        ("ops/service/predict.py", "import reintento_local.process", "through its interface"),
    ],
)
def test_each_import_contract_holds_and_breaking_it_fails(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    # GIVEN a copy of the project's packages: the contracts hold
    root = _copy(tmp_path)
    kept = _lint_imports(root)
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-2000:]
    assert "0 broken" in kept.stdout
    # WHEN one module imports what its contract forbids
    path = root / module
    path.write_text(path.read_text() + f"\n{line}  # broken on purpose\n")
    broken = _lint_imports(root)
    # THEN lint-imports fails, naming that contract
    assert broken.returncode != 0
    assert "0 broken" not in broken.stdout
    assert contract in broken.stdout.split("Broken contracts")[1]


def test_the_local_targets_errors_reach_callers_of_ops_as_ops_errors() -> None:
    # GIVEN verbs that meet the local target's own errors (it cannot know ops's)
    import ops
    import reintento_local
    from ops.aws.faults import user_facing

    @user_facing
    def fails(err: Exception) -> None:
        raise err

    # THEN a caller of ops sees ops's errors, the message kept and the cause chained
    for raised, seen in (
        (reintento_local.ImageBuildError("no Dockerfile at x"), ops.DeployError),
        (reintento_local.LocalTargetError("port 1 is taken"), ops.LocalTargetError),
    ):
        with pytest.raises(seen) as caught:
            fails(raised)
        assert str(caught.value) == str(raised)
        assert caught.value.__cause__ is raised


def test_each_cli_verb_is_defined_once() -> None:
    import argparse

    from ops.cli import VERBS, Verb, build_parser

    # GIVEN the command line's verbs: each one object with its help, run and flags
    assert all(isinstance(v, Verb) and v.help for v in VERBS.values())
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    # THEN the parser has exactly those verbs, each with --dry-run only when it has one
    assert list(sub.choices) == list(VERBS)
    for name, verb in VERBS.items():
        flags = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert ("--dry-run" in flags) is verb.dry_run, name


MAX_FUNCTION_LINES = 60


def _function_lengths(*roots: Path) -> list[tuple[int, str]]:
    """Every function's length in lines (signature, docstring and body), longest first."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    assert node.end_lineno is not None
                    where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}"
                    found.append((node.end_lineno - node.lineno + 1, where))
    return sorted(found, reverse=True)


def test_the_longest_functions_of_ops_and_the_function_are_at_most_60_lines() -> None:
    lengths = _function_lengths(PROJECT_ROOT / "ops", PROJECT_ROOT / "lambda/reintento_function")
    assert len(lengths) > 100  # the scan sees the code
    too_long = [f"{where} ({n} lines)" for n, where in lengths[:10] if n > MAX_FUNCTION_LINES]
    assert not too_long, "split these into named steps: " + ", ".join(too_long)
