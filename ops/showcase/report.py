"""The run report: one self-contained HTML file of a notebook run, ready to attach to a thesis.

The summary first (which notebooks ran, how long, what failed), then each executed notebook
with its code, text and outputs; plots are inline images (``data:`` URIs) and nothing is
loaded from elsewhere: no scripts, no style sheets, no images by address. nbconvert's
``basic`` template gives each notebook's body without the CDN scripts of its ``lab`` and
``classic`` pages; the styles are in the page itself.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Any

REPORT_FILE = "report.html"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 64em; padding: 0 1em; color: #1f2328; line-height: 1.45; }
nav a { margin-right: 1em; }
section.notebook { border-top: 2px solid #d0d7de; margin-top: 2.5em; padding-top: 1em; }
.prompt, .anchor-link { display: none; }
.input_area { background: #f6f8fa; border-radius: 6px; padding: 2px 8px;
              margin: 0.6em 0 0.3em; font-size: 13px; overflow-x: auto; }
.output_subarea pre { font-size: 12px; margin: 0.3em 0; }
.output_subarea, .rendered_html { overflow-x: auto; max-width: 100%; }
.output_subarea img, figure img { max-width: 100%; }
table.dataframe { border-collapse: collapse; font-size: 12px; margin: 0.4em 0; }
table.dataframe th, table.dataframe td { border: 1px solid #d0d7de; padding: 2px 6px; }
.reintento-local-command { display: none; }
"""


def write_report(out_dir: Path, names: tuple[str, ...], summary_text: str) -> Path:
    """Write ``out_dir/report.html`` from the executed notebooks ``names`` found there."""
    import nbformat
    from nbconvert import HTMLExporter
    from pygments.formatters import HtmlFormatter

    exporter = HTMLExporter(template_name="basic")  # type: ignore[no-untyped-call]
    sections = []
    for name in names:
        path = out_dir / f"{name}.ipynb"
        if not path.exists():
            continue
        notebook = nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]
        for cell in notebook.cells:
            if cell.get("cell_type") == "code":
                outputs = (_without_progress(o) for o in cell.get("outputs", []))
                cell.outputs = [o for o in outputs if o is not None]
        body, _ = exporter.from_notebook_node(notebook)
        sections.append(
            f'<section class="notebook" id="{html.escape(name)}">'
            f"<p><small>notebook {html.escape(name)}.ipynb</small></p>{body}</section>"
        )
    nav = "".join(f'<a href="#{html.escape(n)}">{html.escape(n)}</a>' for n in names)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Reintento run {html.escape(out_dir.name)}</title>"
        f"<style>{_STYLE}{HtmlFormatter().get_style_defs('.highlight')}</style></head><body>"
        f"<h1>Reintento: notebook run {html.escape(out_dir.name)}</h1>"
        f"<p>Written {time.strftime('%Y-%m-%d %H:%M:%S %Z')}.</p>"
        f"<pre>{html.escape(summary_text)}</pre><nav>{nav}</nav>"
        f"{''.join(sections)}</body></html>\n"
    )
    report = out_dir / REPORT_FILE
    report.write_text(page, encoding="utf-8")
    return report


# a progress bar's line, as tqdm draws it: "label:  40%|████      | 4/10 [00:01<00:02, ...]"
_PROGRESS = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")


def _without_progress(output: Any) -> Any | None:
    """A stream output without its progress-bar lines (they belong on a terminal, not in the
    record of a run); None when nothing else was in it."""
    if output.get("output_type") != "stream":
        return output
    text = str(output.get("text", ""))
    kept = [
        line for line in re.split(r"[\r\n]", text) if line.strip() and not _PROGRESS.search(line)
    ]
    if not kept:
        return None
    output["text"] = "\n".join(kept) + "\n"
    return output
