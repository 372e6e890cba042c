"""What a verb would do: every verb returns a Plan instead of acting when ``dry_run=True``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """The steps a verb would take on a target; nothing was changed."""

    verb: str
    target: str
    steps: tuple[str, ...]

    def __str__(self) -> str:
        lines = [f"Dry run of {self.verb} on the {self.target} target; it would:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(self.steps, 1)]
        return "\n".join(lines)
