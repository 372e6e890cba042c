"""What a verb would do: every verb returns a Plan instead of acting when ``dry_run=True``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.display import Card, Shown


@dataclass(frozen=True)
class Plan(Shown):
    """The steps a verb would take on a target; nothing was changed."""

    verb: str
    target: str
    steps: tuple[str, ...]

    @property
    def where(self) -> str:
        """ "on the local target" (a verb of files only has no target: "")."""
        return f" on the {self.target} target" if self.target else ""

    def card(self) -> Card:
        return Card(
            f"Dry run of {self.verb}",
            f"{self.where.strip() or 'here'}; nothing was changed. It would:",
            details=tuple((f"{i}.", step) for i, step in enumerate(self.steps, 1)),
        )

    def record(self) -> dict[str, Any]:
        return {"verb": self.verb, "target": self.target, "steps": len(self.steps)}

    def __str__(self) -> str:
        lines = [f"Dry run of {self.verb}{self.where}; it would:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(self.steps, 1)]
        return "\n".join(lines)
