"""The unified record: one row of a built dataset, whatever source it came from (see DESIGN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vitcli.modeling.families import IMAGE_TOKEN  # noqa: F401 - the placeholder in string content
from vitcli.runtime.errors import DataError

TASKS = ("caption", "vqa", "conversation", "pope", "multiple-choice", "gqa")  # the last three: synthetic --tasks
ANSWER_TYPES = ("yes/no", "number", "other")
SPLITS = ("train", "validation", "test")


@dataclass
class Record:
    """One instruction sample. `images` holds encoded image bytes (PNG/JPEG), one per '<image>' placeholder in
    `messages`, in order; empty for text-only rows."""

    id: str
    images: list[bytes]
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
            "images": [{"bytes": b, "path": None} for b in self.images],
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
            "images": List(Image()),
            "messages": List({"role": Value("string"), "content": Value("string")}),
            "task": Value("string"),
            "references": List(Value("string")),
            "answers": List(Value("string")),
            "answer_type": Value("string"),
            "question_type": Value("string"),
            "source": Value("string"),
        }
    )


def undecoded_images(ds: Any) -> Any:
    """`ds` with its `images` column left as {bytes, path} cells: no decoding until a consumer opens one."""
    from datasets import Image, List

    return ds.cast_column("images", List(Image(decode=False)))


def image_counts(ds: Any) -> list[int]:
    """Images per row, read from Arrow list lengths (no image bytes are loaded)."""
    import pyarrow.compute as pc

    return pc.list_value_length(ds.with_format("arrow")["images"]).fill_null(0).to_pylist()


def check_single_image(ds: Any, what: str = "evaluated") -> None:
    """A DataError naming the first row with several images: generation takes one image per question."""
    multi = [i for i, n in enumerate(image_counts(ds)) if n > 1]
    if multi:
        first = ds.select_columns(["id"])[multi[0]]["id"]
        raise DataError(
            f"{len(multi)} of {len(ds)} rows hold several images (first: '{first}'): "
            f"multi-image rows cannot be {what} yet",
            "generation takes one image per question: use a split of single-image rows (or filter on the "
            "length of the 'images' column)",
        )


def prompt_of(row: dict[str, Any]) -> str:
    """The first user turn: what the model is asked about the image."""
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


def target_of(row: dict[str, Any]) -> str:
    """The first assistant turn: the reference answer the model is trained to produce."""
    return next(m["content"] for m in row["messages"] if m["role"] == "assistant")
