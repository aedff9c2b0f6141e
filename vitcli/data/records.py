"""The unified record: one row of a built dataset, whatever source it came from (see DESIGN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vitcli.modeling.families import IMAGE_TOKEN  # noqa: F401 - the placeholder in string content

TASKS = ("caption", "vqa", "conversation")
ANSWER_TYPES = ("yes/no", "number", "other")
SPLITS = ("train", "validation", "test")


@dataclass
class Record:
    """One instruction sample. `image` is encoded image bytes (PNG/JPEG) or None for text-only rows."""

    id: str
    image: bytes | None
    messages: list[dict[str, str]]
    task: str
    source: str
    references: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    answer_type: str | None = None
    question_type: str | None = None

    def to_row(self) -> dict[str, Any]:
        """The dict `datasets` stores, matching `record_features()`."""
        return {
            "id": self.id,
            "image": None if self.image is None else {"bytes": self.image, "path": None},
            "messages": self.messages,
            "task": self.task,
            "references": self.references,
            "answers": self.answers,
            "answer_type": self.answer_type,
            "question_type": self.question_type,
            "source": self.source,
        }


def record_features():
    """The `datasets.Features` of a built dataset (imported lazily: `datasets` is heavy)."""
    from datasets import Features, Image, List, Value

    return Features(
        {
            "id": Value("string"),
            "image": Image(),
            "messages": List({"role": Value("string"), "content": Value("string")}),
            "task": Value("string"),
            "references": List(Value("string")),
            "answers": List(Value("string")),
            "answer_type": Value("string"),
            "question_type": Value("string"),
            "source": Value("string"),
        }
    )


def prompt_of(row: dict[str, Any]) -> str:
    """The first user turn: what the model is asked about the image."""
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


def target_of(row: dict[str, Any]) -> str:
    """The first assistant turn: the reference answer the model is trained to produce."""
    return next(m["content"] for m in row["messages"] if m["role"] == "assistant")
