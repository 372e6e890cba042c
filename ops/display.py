"""How a result shows itself: a card in JupyterLab, readable text in a log, values for tests.

Every result ``ops`` returns to a notebook is a ``Shown``: it builds one ``Card`` (a title, key
figures first, then details, then links) and Jupyter asks it for three forms at once:

- ``text/html``: the card as a small table; long identifiers shortened, the full value on hover;
- ``text/plain``: ``str()``: the same card as aligned lines, full values (or the class's own
  ``__str__``); what papermill logs, nbval shows and the CLI prints;
- ``RECORD_MIME``: the result's key values as JSON (``record()``). Tests read these from executed
  notebooks, and nbval compares them instead of the two renderings, so a change of formatting
  does not fail a notebook test and a wrong value does (``notebooks/conftest.py``).

Pure: no ``ops`` imports, so any result module can use it.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RECORD_MIME = "application/vnd.reintento.record+json"
# the HTML class of a local-only command (a run report hides them: they name this machine's
# local target, which is gone by the time anyone reads the report)
LOCAL_COMMAND_CLASS = "reintento-local-command"
SHORT = 40  # characters shown of a long value in HTML before "…"


@dataclass(frozen=True)
class Link:
    """Where to see something: a console page (``href``) or, locally, a command to run."""

    label: str
    href: str = ""
    command: str = ""


@dataclass(frozen=True)
class Card:
    """One result: ``headline`` first, then ``key`` figures, ``details``, ``links``, ``notes``.

    ``python_notes`` speak to a notebook or Python session (attributes, methods); the command
    line shows ``cli_notes`` instead (flags), so each reader is told what works where it is."""

    title: str
    headline: str
    ok: bool | None = None  # shown as a mark: True good, False bad, None neutral
    key: tuple[tuple[str, Any], ...] = ()
    details: tuple[tuple[str, Any], ...] = ()
    links: tuple[Link, ...] = ()
    notes: tuple[str, ...] = ()
    python_notes: tuple[str, ...] = ()
    cli_notes: tuple[str, ...] = ()

    def text(self, *, cli: bool = False) -> str:
        """Aligned lines; ``cli``: as the command line prints it (its notes, not Python's)."""
        mark = {True: "ok: ", False: "NOT OK: ", None: ""}[self.ok]
        lines = [f"{self.title}: {mark}{self.headline}"]
        rows = [(k, v) for k, v in self.key + self.details if v not in (None, "", ())]
        width = max((len(k) for k, _ in rows), default=0)
        lines += [f"  {k:<{width}}  {_plain(v)}" for k, v in rows]
        for link in self.links:
            lines.append(f"  {link.label}: {link.href or link.command}")
        notes = self.notes + (self.cli_notes if cli else self.python_notes)
        lines += [f"  {note}" for note in notes]
        return "\n".join(lines)

    def html(self) -> str:
        mark = {True: "&#10004; ", False: "&#10008; ", None: ""}[self.ok]
        color = {True: "#1a7f37", False: "#cf222e", None: "inherit"}[self.ok]
        parts = [
            '<div class="reintento-card" style="border:1px solid #d0d7de;border-radius:6px;'
            'padding:6px 10px;margin:4px 0;max-width:58em;font-size:13px">',
            f'<div style="font-weight:600">{_e(self.title)}: '
            f'<span style="color:{color}">{mark}{_inline_code(self.headline)}</span></div>',
            '<table style="border-collapse:collapse;margin-top:4px">',
        ]
        for rows, weight in ((self.key, "600"), (self.details, "normal")):
            for label, value in rows:
                if value in (None, "", ()):
                    continue
                parts.append(
                    f'<tr><th style="text-align:left;padding:1px 12px 1px 0;'
                    f'font-weight:normal;color:#57606a">{_e(label)}</th>'
                    f'<td style="text-align:left;font-weight:{weight}">'
                    f"{_html_value(value)}</td></tr>"
                )
        parts.append("</table>")
        if self.links:
            parts.append('<div style="margin-top:4px">')
            for link in self.links:
                if link.href:
                    parts.append(
                        f'<div><a href="{_e(link.href)}" target="_blank" rel="noopener">'
                        f"{_e(link.label)}</a></div>"
                    )
                else:  # a command for this machine's local target: not in a run report
                    parts.append(
                        f'<div class="{LOCAL_COMMAND_CLASS}">{_e(link.label)}: '
                        f'<code style="font-size:12px">{_e(link.command)}</code></div>'
                    )
            parts.append("</div>")
        parts += [
            f'<div style="color:#57606a;margin-top:4px">{_inline_code(n)}</div>'
            for n in self.notes + self.python_notes
        ]
        parts.append("</div>")
        return "".join(parts)


class Shown:
    """A result that renders as a ``Card`` and records its key values (see the module doc)."""

    def card(self) -> Card:
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        """The key values a test asserts on (JSON types only)."""
        return {}

    def __str__(self) -> str:
        return self.card().text()

    def cli_text(self) -> str:
        """What the command line prints: the card with its command-line notes."""
        return self.card().text(cli=True)

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        return {
            "text/plain": str(self),  # the card's text, or the class's own ``__str__``
            "text/html": self.card().html(),
            RECORD_MIME: {"type": type(self).__name__, **jsonable(self.record())},
        }


def short(value: str, keep: int = SHORT) -> str:
    """``value`` cut in the middle to about ``keep`` characters (its ends tell most ids apart)."""
    if len(value) <= keep:
        return value
    head = keep * 2 // 3
    return f"{value[:head]}…{value[-(keep - head - 1) :]}"


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _html_value(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) > 1:
        return "<br>".join(_html_value(v) for v in value)
    text = _plain(value)
    if len(text) <= SHORT or any(c.isspace() for c in text):  # identifiers only, not sentences
        return _inline_code(text)
    return f'<span title="{_e(text)}"><code style="font-size:12px">{_e(short(text))}</code></span>'


def _inline_code(text: str) -> str:
    """A note's text as HTML, its `backticked` parts as code (as Markdown shows them)."""
    parts = _e(text).split("`")
    if len(parts) % 2 == 0:  # an odd backtick: shown as it is
        return _e(text)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _e(text: str) -> str:
    return html.escape(text, quote=True)


@dataclass(frozen=True)
class Plan(Shown):
    """What a verb would do: every verb returns a Plan instead of acting when ``dry_run=True``;
    the steps it would take on a target, nothing changed."""

    verb: str
    target: str
    steps: tuple[str, ...]
    # the read-only checks the verb would run first, each (what, outcome); an outcome starting
    # with "FAILED" means the verb would be refused
    checks: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """No check failed: the verb would go ahead."""
        return not any(outcome.startswith("FAILED") for _, outcome in self.checks)

    @property
    def where(self) -> str:
        """ "on the local target" (a verb of files only has no target: "")."""
        return f" on the {self.target} target" if self.target else ""

    def card(self) -> Card:
        return Card(
            f"Dry run of {self.verb}",
            f"{self.where.strip() or 'here'}; nothing was changed. It would:",
            details=tuple((f"{i}.", step) for i, step in enumerate(self.steps, 1))
            + tuple((f"check: {what}", outcome) for what, outcome in self.checks),
            ok=None if self.ok else False,
        )

    def record(self) -> dict[str, Any]:
        checked = {"checks": dict(self.checks), "ok": self.ok} if self.checks else {}
        return {"verb": self.verb, "target": self.target, "steps": len(self.steps), **checked}

    def __str__(self) -> str:
        lines = [f"Dry run of {self.verb}{self.where}; it would:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(self.steps, 1)]
        if self.checks:
            lines.append("Its checks, run now (read-only):")
            lines += [f"  {what}: {outcome}" for what, outcome in self.checks]
        if not self.ok:
            lines.append("it would be refused: fix what FAILED above")
        return "\n".join(lines)


class Progress(Shown):
    """A long verb's progress lines (a rollout's checks and steps) as one card."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []

    def card(self) -> Card:
        return Card(self.title, self.lines[-1] if self.lines else "", notes=tuple(self.lines))

    def record(self) -> dict[str, Any]:
        # progress is not a result (the verb's result records the values): a kernel sends the
        # card at its first line, then updates, and a notebook test sees only that first state
        return {}


def progress_lines(title: str) -> Callable[[str], None]:
    """Where a verb's progress lines go: printed on a terminal; in a notebook's kernel, one card
    shown at the first line and updated in place as more come (the notebook keeps its last
    state as a result, not a stream of printed lines)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return print
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return print
    from IPython.display import display

    shown, handles = Progress(title), list[Any]()

    def say(line: str) -> None:
        shown.lines.append(line)
        if handles:
            handles[0].update(shown)
        else:
            handles.append(display(shown, display_id=True))  # type: ignore[no-untyped-call]

    return say
