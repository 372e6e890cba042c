"""`make run` as a reader gets it: quiet output ending with the report's path, a self-contained
HTML report, every result cell rendered as HTML and text, and the key values recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import ops
from ops.display import LOCAL_COMMAND_CLASS, RECORD_MIME
from ops.modelfiles.versions import PROJECT_ROOT
from ops.showcase.runner import NOTEBOOKS
from reintento_local.process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RESULT_OUTPUTS = ("execute_result", "display_data")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """GIVEN `python -m ops run-notebooks` (what `make run` runs) on a private local target."""
    out = tmp_path_factory.mktemp("run")
    settings = ops.Settings.resolve(
        local_port=free_port(), state_dir=tmp_path_factory.mktemp("run-target")
    )
    env = {
        **os.environ,
        "REINTENTO_LOCAL_PORT": str(settings.local_port),
        "REINTENTO_STATE_DIR": str(settings.state_dir),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ops", "run-notebooks", "--out", str(out)],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
        )
    finally:
        ops.stop_local(settings=settings)
    return done, out


def _records(path: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(RECORD_MIME)
            if record is not None:
                found[record["type"]].append(record)
    return found


def test_the_run_is_quiet_and_ends_with_the_report_path(run: Any) -> None:
    done, out = run
    assert done.returncode == 0, done.stderr[-3000:]
    # THEN no warning (kernel transport, library deprecations, ...) reaches the user
    noise = [ln for ln in (done.stdout + done.stderr).splitlines() if re.search(r"warn", ln, re.I)]
    assert not noise, noise
    assert not done.stderr.strip(), done.stderr
    # AND the last line is the report's path
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"report: {out / 'report.html'}"


def test_the_report_is_one_self_contained_file_with_every_plot(run: Any) -> None:
    _, out = run
    page = (out / "report.html").read_text()
    # nothing loaded from elsewhere: no scripts or style sheets by address, images inline only
    assert not re.search(r"<script[^>]*\bsrc=", page, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page, re.I)
    images = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page, re.I)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    # the two plots of 03, and every notebook with its summary line
    assert len(images) >= 2
    for name in NOTEBOOKS:
        assert f'id="{name}"' in page and re.search(rf"ok\s+{name}", page)


def test_every_result_cell_renders_as_html_and_as_text(run: Any) -> None:
    _, out = run
    for name in NOTEBOOKS:
        notebook = json.loads((out / f"{name}.ipynb").read_text())
        results = 0
        for cell in notebook["cells"]:
            for output in cell.get("outputs", []):
                if output["output_type"] in RESULT_OUTPUTS:
                    results += 1
                    assert {"text/html", "text/plain"} <= set(output["data"]), (
                        name,
                        cell["source"],
                    )
                # results are displayed, not printed; a run's record holds no progress bars
                assert output["output_type"] != "stream", (name, cell["source"])
        assert results >= 3, name


def test_the_notebooks_record_their_key_values(run: Any) -> None:
    _, out = run
    deploy, upload, test, teardown = (_records(out / f"{n}.ipynb") for n in NOTEBOOKS)
    # 01: both stacks created; fresh alarms wait for data instead of firing
    (status,) = deploy["Status"]
    assert status["service_stack"] == "CREATE_COMPLETE" and status["model_version"] is None
    assert len(status["alarms"]) == 7
    assert set(status["alarms"].values()) == {"INSUFFICIENT_DATA"}
    assert status["function"] == deploy["DeployResult"][0]["function"]
    # 02: the model the file describes is the one live
    (manifest,), (uploaded, rehearsal) = upload["ModelManifest"], upload["UploadResult"]
    assert uploaded["live"] is True and uploaded["sha256"] == manifest["sha256"]
    # 02: a canary rehearsed (the same model served by scikit-learn), agreeing before any
    # traffic, promoted, then rolled back to the compiled version
    assert uploaded["engine"] == "onnx" and rehearsal["engine"] == "sklearn"
    assert (rehearsal["rollout"]["strategy"], rehearsal["rollout"]["outcome"]) == (
        "canary",
        "promoted",
    )
    assert "on 100 of 100 of the live model's rows (100%" in rehearsal["rollout"]["agreement"]
    (rolled_back,) = upload["RollbackResult"]
    assert rolled_back["restored_version"] == uploaded["version_id"]
    assert len(upload["Progress"]) == 1  # its lines shown as one card, not printed
    # 03: deployed predictions match the local model; every batch row accounted for
    realtime, in_batch = test["Comparison"]
    assert realtime["rows"] == 5 and realtime["all_match"] is True
    assert in_batch["rows"] == 9_990 and in_batch["all_match"] is True  # the predicted rows
    (rows,) = test["ModelRows"]  # the demo's manifest keeps real rows of its training data
    assert rows["source"] == "sample" and rows["synthetic"] is False
    (batch,) = test["BatchResult"]
    assert batch["rows"] == batch["result_rows"] == 10_000 and batch["accounted_for"] is True
    assert batch["failed"] == 10 and batch["succeeded"] == 9_990  # every 1,000th row invalid
    # the notebook's own traffic looks like the training data: no feature drifted; the batch
    # built to drift has its moved feature (the first numeric one) named
    own, moved = test["DriftReport"]
    assert own["drifted"] == [] and len(own["features"]) == 9
    assert moved["drifted"] == ["latencia_ms"]
    (cost,) = test["CostEstimate"]  # one cost section
    assert 0 < cost["total_usd"] == pytest.approx(sum(cost["by_service"].values()), abs=0.01)
    assert {p["name"] for p in test["Plot"]} == {"latency", "predictions", "drift"}
    # 04: the dry run changed nothing; the confirmed teardown deleted the service stack only
    (gone,) = teardown["TeardownResult"]
    assert gone["refused"] is False and gone["deleted_stacks"] == ["Reintento-dev-Service"]
    assert gone["kept"]


class _Visible(HTMLParser):
    """The text a reader of the report sees: hidden local commands and code cells left out,
    Markdown cells' text kept apart."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.markdown: list[str] = []
        self._stack: list[tuple[str, bool, bool]] = []  # tag, hidden, in markdown

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        hidden, markdown = self._stack[-1][1:] if self._stack else (False, False)
        hidden = hidden or LOCAL_COMMAND_CLASS in classes or tag in ("style", "script")
        markdown = markdown or "text_cell_render" in classes  # nbconvert's basic template
        if tag not in ("br", "img", "meta", "hr", "input", "link"):
            self._stack.append((tag, hidden, markdown))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        hidden, markdown = self._stack[-1][1:] if self._stack else (False, False)
        if hidden:
            return
        self.text.append(data)
        if markdown and not any(t in ("code", "pre") for t, _, _ in self._stack):
            self.markdown.append(data)


def test_the_report_reads_as_a_thesis_appendix(run: Any) -> None:
    _, out = run
    page = _Visible()
    page.feed((out / "report.html").read_text())
    text = "".join(page.text)
    # THEN no progress bar, no command for this machine's local target, Markdown rendered
    assert not re.search(r"\d+%\|.*\|\s*\d+/\d+", text)
    assert "--endpoint-url" not in text
    assert "`" not in "".join(page.markdown)
    # AND one cost section, saying what it counts
    assert text.count("Cost estimate:") == 1
    assert re.search(r"Cost estimate: \$[\d.]+ a month for [\d,]+ realtime calls", text)
    # AND Markdown cells were found (the check above looked at something), and wide tables
    # scroll inside the output boxes the page has
    assert len("".join(page.markdown)) > 1000
    html_text = (out / "report.html").read_text()
    assert ".output_subarea, .rendered_html { overflow-x: auto" in html_text
    assert 'class="output_html rendered_html output_subarea' in html_text
