"""The result of `vitcli eval`: one dataclass the CLI renders as a table or as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvalReport:
    task: str
    metrics: dict[str, Any]
    num_scored: int
    provenance: dict[str, Any] = field(default_factory=dict)
    per_item: list[dict[str, Any]] = field(default_factory=list)  # one row per image/question: id, prediction, score...
    warnings: list[str] = field(default_factory=list)  # what the numbers cannot show (stderr in the table view)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metrics": self.metrics,
            "num_scored": self.num_scored,
            "provenance": self.provenance,
            **({"warnings": self.warnings} if self.warnings else {}),
        }
