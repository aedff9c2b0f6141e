"""LLaVA conversation files: a JSON list (or JSONL) of {"id", "image"?, "conversations": [{"from", "value"}]};
"image" is a path or a list of paths (LLaVA-OneVision / interleave data: one `<image>` per path, in order).

Normalisation (documented, and undone by `--export llava-json` except where noted): from human/gpt/system ->
role user/assistant/system; `<image>` stays where the author put it; a row with images but no `<image>` tag
gets one "<image>\\n" per image prepended to its first human turn (what LLaVA's loader assumes); a missing id
becomes "llava-<row>"; text-only rows (no "image") are kept with no images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from vitcli.data.records import IMAGE_TOKEN, Record
from vitcli.data.sources.common import SourceSpec, iter_json_rows, require_file
from vitcli.data.templates import Templates
from vitcli.data.validate import MALFORMED, Candidate, Rejection

FROM_ROLE = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}


def insert_image_tag(messages: list[dict[str, str]], num_images: int = 1) -> None:
    """Prepend one '<image>\\n' per image to the first user turn when no turn mentions an image."""
    if num_images and not any(IMAGE_TOKEN in m["content"] for m in messages):
        first = next((m for m in messages if m["role"] == "user"), None)
        if first is not None:
            first["content"] = f"{IMAGE_TOKEN}\n" * num_images + first["content"]


def conversations_to_messages(conv: Any, num_images: int) -> list[dict[str, str]] | str:
    """LLaVA turns -> messages, or the reason they are malformed."""
    if not isinstance(conv, list) or not conv:
        return f"{MALFORMED}: 'conversations' must be a non-empty list"
    messages = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            return f"{MALFORMED}: turn {i} needs a string 'value'"
        role = FROM_ROLE.get(str(turn.get("from", "")).lower())
        if role is None:
            return f"{MALFORMED}: turn {i} has unknown 'from' {turn.get('from')!r} (use human/gpt/system)"
        messages.append({"role": role, "content": turn["value"]})
    insert_image_tag(messages, num_images)
    return messages


def image_field(obj: dict[str, Any]) -> list[str] | Rejection:
    """The row's image paths: "image" (or "images") as a path, a list of paths, or absent/null/[] (none)."""
    image = obj.get("image", obj.get("images"))
    images = [] if image is None else image if isinstance(image, list) else [image]
    if not all(isinstance(x, str) and x for x in images):
        return Rejection("", 0, f"{MALFORMED}: 'image' must be a path string or a list of path strings")
    return images


def read_llava(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    path = require_file(spec.path, "LLaVA file", "pass the conversation JSON/JSONL file")
    yield from read_conversation_rows(
        spec, path, "llava", lambda obj, n: conversations_to_messages(obj.get("conversations"), n)
    )


def read_conversation_rows(
    spec: SourceSpec, path: Any, kind: str, to_messages: Callable[[dict, int], list[dict[str, str]] | str]
) -> Iterator[Candidate | Rejection]:
    """The row loop shared by the conversation formats (llava, messages): object check, image paths,
    messages from `to_messages` (a string return is the rejection reason), id defaulting to '<kind>-<row>'."""
    root, split = spec.image_root(), spec.split or "train"
    for item in iter_json_rows(path):
        if isinstance(item, Rejection):
            yield item
            continue
        row, obj = item
        if not isinstance(obj, dict):
            yield Rejection(path.name, row, f"{MALFORMED}: expected an object, got {type(obj).__name__}")
            continue
        images = image_field(obj)
        if isinstance(images, Rejection):
            yield Rejection(path.name, row, images.reason)
            continue
        messages = to_messages(obj, len(images))
        if isinstance(messages, str):
            yield Rejection(path.name, row, messages)
            continue
        rid = str(obj["id"]) if obj.get("id") not in (None, "") else f"{kind}-{row}"
        rec = Record(id=rid, images=[], messages=messages, task="conversation", source=f"{kind}:{path.name}:{row}")
        yield Candidate(rec, images, root, path.name, row, split)
