"""Run the four notebooks in order with papermill; stop at, and report, the first failure.

    python -m ops run-notebooks                     # local target, executed copies in runs/<ts>/
    python -m ops run-notebooks --target aws -p STAGE=prod --confirm-teardown

Executed notebooks, ``summary.txt`` and ``report.html`` (the whole run in one self-contained
page) go to ``runs/<timestamp>/`` (or ``--out DIR``). ``--in-place`` rewrites the committed
notebooks with fresh outputs (``make notebooks``) on a fresh, private local target.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ops.errors import ConfigurationError, OpsError
from ops.modelfiles.versions import PROJECT_ROOT
from ops.showcase.report import write_report
from reintento_local import free_port

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
RUNS_DIR = PROJECT_ROOT / "runs"
NOTEBOOKS = ("01_deploy", "02_upload_model", "03_test", "04_teardown")
KERNEL = "reintento"
# private IPC sockets, not loopback TCP (imported by papermill by name: no jupyter import here)
KERNEL_MANAGER = "ops.showcase.kernel.IpcKernelManager"
CELL_TIMEOUT_SECONDS = 1800


class NotebookFailedError(OpsError):
    """A notebook raised: which one, which cell, and what."""


@dataclass(frozen=True)
class NotebookRun:
    name: str
    ok: bool
    seconds: float = field(compare=False)
    error: str = ""


@dataclass(frozen=True)
class RunSummary:
    out_dir: Path
    runs: tuple[NotebookRun, ...]
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return len(self.runs) == len(NOTEBOOKS) and all(r.ok for r in self.runs)

    @property
    def failure(self) -> str:
        """What failed, first: the notebook and its cell (empty when all ran)."""
        failed = next((r for r in self.runs if not r.ok), None)
        return f"notebook {failed.name} failed at {failed.error}" if failed else ""

    def __str__(self) -> str:
        lines = [f"notebooks run into {_shown_path(self.out_dir)}"]
        for r in self.runs:
            lines.append(
                f"  {'ok    ' if r.ok else 'FAILED'} {r.name:<16} {r.seconds:6.1f} s  {r.error}"
            )
        for name in NOTEBOOKS[len(self.runs) :]:
            lines.append(f"  skipped {name}")
        lines.append("all notebooks ran" if self.ok else "stopped at the first failing notebook")
        if self.report is not None:
            lines.append(f"report: {_shown_path(self.report)}")
        return "\n".join(lines)


def _shown_path(path: Path) -> str:
    """Relative to the current folder when inside it (no machine-specific absolute path)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_notebooks(
    parameters: Mapping[str, Any] | None = None,
    *,
    target: str = "local",
    confirm_teardown: bool | None = None,
    in_place: bool = False,
    out_dir: Path | None = None,
    private_local: bool = False,
) -> RunSummary:
    """Execute 01..04 in order; ``confirm_teardown`` (default: True locally) lets 04 delete."""
    params = _parameters(parameters, target, confirm_teardown, in_place)
    declared = _declared_parameters()
    _refuse_unknown(params, declared)
    destination = (
        NOTEBOOKS_DIR if in_place else (out_dir or RUNS_DIR / time.strftime("%Y%m%d-%H%M%S"))
    )
    destination.mkdir(parents=True, exist_ok=True)
    # a run's record holds no progress bars (they are for a terminal; JupyterLab keeps its own)
    fresh_env = {"TQDM_DISABLE": "1", **_compressed_metrics_delay()}
    if in_place or private_local:  # a private local target, stopped at the end
        fresh_env |= {
            "REINTENTO_LOCAL_PORT": str(free_port()),
            "REINTENTO_STATE_DIR": tempfile.mkdtemp(prefix="reintento-notebooks-"),
        }
    with _environment(fresh_env, private="REINTENTO_STATE_DIR" in fresh_env):
        runs = _execute_in_order(params, declared, destination)
    summary = RunSummary(destination, runs)
    if in_place:
        for run in runs:
            _strip_run_metadata(destination / f"{run.name}.ipynb")
        return summary
    (destination / "summary.txt").write_text(str(summary) + "\n")
    report = write_report(destination, tuple(r.name for r in runs), str(summary))
    return replace(summary, report=report)


def _compressed_metrics_delay() -> dict[str, str]:
    """A local target this run starts publishes metrics 2 s after the calls (AWS: a minute or
    more; the local default too), unless the environment says otherwise: notebook 03 reads
    its calls' drift counts right after them (``ops.drift`` waits for them, at most 30 s)."""
    variable = "REINTENTO_METRICS_DELAY_SECONDS"
    return {variable: os.environ.get(variable, "2")}


def _parameters(
    parameters: Mapping[str, Any] | None,
    target: str,
    confirm_teardown: bool | None,
    in_place: bool,
) -> dict[str, Any]:
    """The parameters injected into the notebooks (none in place: their defaults)."""
    from ops.settings import Settings
    from ops.targets import target_class

    if in_place:
        return {}
    params: dict[str, Any] = {"TARGET": target, **(parameters or {})}
    if (
        confirm_teardown
        if confirm_teardown is not None
        else target_class(target).teardown_in_notebooks
    ):
        stage = str(params.get("STAGE", Settings().stage))
        params.setdefault("CONFIRM", Settings(stage=stage).service_stack_name)
    return params


def _declared_parameters() -> dict[str, set[str]]:
    """Each notebook's parameters (its `parameters` cell), by name."""
    import papermill as pm

    return {
        name: set(pm.inspect_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb")).keys())
        for name in NOTEBOOKS
    }


def _refuse_unknown(params: Mapping[str, Any], declared: Mapping[str, set[str]]) -> None:
    known = set().union(*declared.values())
    unknown = set(params) - known
    if unknown:
        raise ConfigurationError(
            f"unknown notebook parameter(s) {sorted(unknown)}; the notebooks take: "
            + ", ".join(sorted(known))
        )


@contextmanager
def _environment(fresh_env: Mapping[str, str], *, private: bool) -> Iterator[None]:
    """``fresh_env`` set for the run, then restored; a private local target stopped."""
    from ops.settings import Settings
    from ops.targets.local import stop_local

    saved = {k: os.environ.get(k) for k in fresh_env}
    os.environ.update(fresh_env)
    try:
        yield
    finally:
        if private:
            stop_local(settings=Settings.resolve())
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _execute_in_order(
    params: Mapping[str, Any], declared: Mapping[str, set[str]], destination: Path
) -> tuple[NotebookRun, ...]:
    """Each notebook in turn with its own parameters, up to and including the first failure."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    runs: list[NotebookRun] = []
    for name in NOTEBOOKS:
        started = time.monotonic()
        try:
            pm.execute_notebook(
                str(NOTEBOOKS_DIR / f"{name}.ipynb"),
                str(destination / f"{name}.ipynb"),
                parameters={k: v for k, v in params.items() if k in declared[name]},
                kernel_name=KERNEL,
                kernel_manager_class=KERNEL_MANAGER,
                cwd=str(NOTEBOOKS_DIR),
                execution_timeout=CELL_TIMEOUT_SECONDS,
                start_timeout=120,
                progress_bar=False,
                report_mode=False,
            )
            runs.append(NotebookRun(name, True, time.monotonic() - started))
        except PapermillExecutionError as err:
            where = f"cell {err.exec_count}: {err.ename}: {str(err.evalue)[:300]}"
            runs.append(NotebookRun(name, False, time.monotonic() - started, where))
            break
    return tuple(runs)


def _strip_run_metadata(path: Path) -> None:
    """Drop papermill's timings from a committed notebook (they change every run)."""
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]
    notebook.metadata.pop("papermill", None)
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, str(path))  # type: ignore[no-untyped-call]
