"""The README stays a five-minute read, and the reference site builds offline with --strict:
every verb's page comes from its docstring, and a broken link fails the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import ops
from ops.modelfiles.versions import PROJECT_ROOT
from reintento_function import contract

MKDOCS = Path(sys.executable).parent / "mkdocs"
README_MAX_LINES = 250


def _site_source(tmp_path: Path) -> Path:
    """A copy of the site's sources (the code it documents and includes, linked)."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(PROJECT_ROOT / "docs", root / "docs")
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for name in ("ops", "lambda", "local_target", "SECURITY.md"):
        (root / name).symlink_to(PROJECT_ROOT / name)
    return root


def _build(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(root / "site")],
        cwd=root,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_readme_is_short_and_keeps_both_quick_starts() -> None:
    text = (PROJECT_ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    for kept in ("## Inicio rápido (español)", "## Your own model", "make run", "make test"):
        assert kept in text
    # AND every page it points to exists
    for page in ("api", "errors", "model", "contract", "rollout", "stacks", "tests", "benchmarks"):
        assert f"](docs/{page}.md)" in text
        assert (PROJECT_ROOT / "docs" / f"{page}.md").is_file()


def test_the_site_builds_strictly_with_every_verb_documented(tmp_path: Path) -> None:
    # WHEN the site is built as `make docs` builds it
    root = _site_source(tmp_path)
    built = _build(root)
    # THEN it builds with no warning (--strict) and nothing fetched
    assert built.returncode == 0, built.stdout + built.stderr
    reference = (root / "site" / "reference.html").read_text()
    # AND every function and class `import ops` exports has a docstring, and its entry
    for name in ops.__all__:
        member = getattr(ops, name)
        # (a dataclass without one gets its signature as __doc__: that is no docstring)
        documented = member.__doc__ and not member.__doc__.startswith(f"{name}(")
        assert documented, f"ops.{name} has no docstring"
        entries = (f'id="ops.{name}"', f'id="{member.__module__}.{name}"')
        assert any(entry in reference for entry in entries), name
    # AND the contract's module page names its facts
    page = (root / "site" / "contract-module.html").read_text()
    for fact in ("EXECUTION_MANIFEST_KEY", "RESULT_ROW", "ENV_MODEL_BUCKET", "new_run_id"):
        assert hasattr(contract, fact) and fact in page
    assert "fonts.googleapis" not in (root / "site" / "index.html").read_text()


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    root = _site_source(tmp_path)
    with (root / "docs" / "rollout.md").open("a") as page:
        page.write("\nSee [the old page](no-such-page.md).\n")
    built = _build(root)
    assert built.returncode != 0
    assert "no-such-page.md" in built.stdout + built.stderr
