"""LLaVA conversation files: a JSON list (or JSONL) of {"id", "image"?, "conversations": [{"from", "value"}]}.

Normalisation (documented, and undone by `--export llava-json` except where noted): from human/gpt/system ->
role user/assistant/system; `<image>` stays where the author put it in the first human turn; a row with an
image but no `<image>` tag gets "<image>\\n" prepended to its first human turn (what LLaVA's loader assumes);
a missing id becomes "llava-<row>"; text-only rows (no "image") are kept with image None."""

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


def insert_image_tag(messages: list[dict[str, str]]) -> None:
    """Prepend '<image>\\n' to the first user turn when no turn mentions the image."""
    if not any(IMAGE_TOKEN in m["content"] for m in messages):
        first = next((m for m in messages if m["role"] == "user"), None)
        if first is not None:
            first["content"] = f"{IMAGE_TOKEN}\n{first['content']}"


def conversations_to_messages(conv: Any, has_image: bool) -> list[dict[str, str]] | str:
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
    if has_image:
        insert_image_tag(messages)
    return messages


def image_field(obj: dict[str, Any]) -> str | None | Rejection:
    image = obj.get("image", obj.get("images"))
    if isinstance(image, list):
        if len(image) > 1:
            return Rejection(
                "", 0, f"{MALFORMED}: {len(image)} images in one row (one image per row is supported)"
            )
        image = image[0] if image else None
    if image is not None and not (isinstance(image, str) and image):
        return Rejection("", 0, f"{MALFORMED}: 'image' must be a path string")
    return image


def read_llava(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    path = require_file(spec.path, "LLaVA file", "pass the conversation JSON/JSONL file")
    yield from read_conversation_rows(spec, path, "llava", lambda obj, has_image: conversations_to_messages(
        obj.get("conversations"), has_image))


def read_conversation_rows(spec: SourceSpec, path: Any, kind: str,
                           to_messages: Callable[[dict, bool], list[dict[str, str]] | str]
                           ) -> Iterator[Candidate | Rejection]:
    """The row loop shared by the conversation formats (llava, messages): object check, one image path,
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
        image = image_field(obj)
        if isinstance(image, Rejection):
            yield Rejection(path.name, row, image.reason)
            continue
        messages = to_messages(obj, image is not None)
        if isinstance(messages, str):
            yield Rejection(path.name, row, messages)
            continue
        rid = str(obj["id"]) if obj.get("id") not in (None, "") else f"{kind}-{row}"
        rec = Record(id=rid, image=None, messages=messages, task="conversation", source=f"{kind}:{path.name}:{row}")
        yield Candidate(rec, image, root, path.name, row, split)
