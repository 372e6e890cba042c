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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RECORD_MIME = "application/vnd.reintento.record+json"
SHORT = 40  # characters shown of a long value in HTML before "…"


@dataclass(frozen=True)
class Link:
    """Where to see something: a console page (``href``) or, locally, a command to run."""

    label: str
    href: str = ""
    command: str = ""


@dataclass(frozen=True)
class Card:
    """One result: ``headline`` first, then ``key`` figures, ``details``, ``links``, ``notes``."""

    title: str
    headline: str
    ok: bool | None = None  # shown as a mark: True good, False bad, None neutral
    key: tuple[tuple[str, Any], ...] = ()
    details: tuple[tuple[str, Any], ...] = ()
    links: tuple[Link, ...] = ()
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        mark = {True: "ok: ", False: "NOT OK: ", None: ""}[self.ok]
        lines = [f"{self.title}: {mark}{self.headline}"]
        rows = [(k, v) for k, v in self.key + self.details if v not in (None, "", ())]
        width = max((len(k) for k, _ in rows), default=0)
        lines += [f"  {k:<{width}}  {_plain(v)}" for k, v in rows]
        for link in self.links:
            lines.append(f"  {link.label}: {link.href or link.command}")
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def html(self) -> str:
        mark = {True: "&#10004; ", False: "&#10008; ", None: ""}[self.ok]
        color = {True: "#1a7f37", False: "#cf222e", None: "inherit"}[self.ok]
        parts = [
            '<div class="reintento-card" style="border:1px solid #d0d7de;border-radius:6px;'
            'padding:6px 10px;margin:4px 0;max-width:58em;font-size:13px">',
            f'<div style="font-weight:600">{_e(self.title)}: '
            f'<span style="color:{color}">{mark}{_e(self.headline)}</span></div>',
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
                else:
                    parts.append(
                        f'<div>{_e(link.label)}: <code style="font-size:12px">'
                        f"{_e(link.command)}</code></div>"
                    )
            parts.append("</div>")
        parts += [f'<div style="color:#57606a;margin-top:4px">{_e(n)}</div>' for n in self.notes]
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
        return _e(text)
    return f'<span title="{_e(text)}"><code style="font-size:12px">{_e(short(text))}</code></span>'


def _e(text: str) -> str:
    return html.escape(text, quote=True)
