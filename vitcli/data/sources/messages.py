"""HF/OpenAI chat rows as TRL / LLaMA-Factory use them: {"messages": [{"role", "content"}], "images": [path, ...]}
(or "image": path), content either a string holding "<image>" or typed parts [{"type": "image"},
{"type": "text", "text": ...}] (a null "text" on an image part is allowed, as `datasets` stores them). Typed
parts are joined with "\\n", each image part becoming "<image>": one per entry of "images", in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vitcli.data.records import IMAGE_TOKEN
from vitcli.data.sources.common import SourceSpec, require_file
from vitcli.data.sources.llava import insert_image_tag, read_conversation_rows
from vitcli.data.templates import Templates
from vitcli.data.validate import MALFORMED, ROLES, Candidate, Rejection

ROLE_ALIASES = {"human": "user", "gpt": "assistant", "model": "assistant"}


def content_text(content: Any) -> str | None:
    """A message's content as one string, or None if it is neither a string nor a list of typed parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("image", "image_url"):
            parts.append(IMAGE_TOKEN)
        elif kind == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif kind == "text" and part.get("text") is None:
            continue  # an empty text part (struct columns give every part every key)
        else:
            return None
    return "\n".join(parts)


def normalize_messages(msgs: Any, num_images: int) -> list[dict[str, str]] | str:
    """Chat messages -> [{role, content: str}], or the reason they are malformed."""
    if not isinstance(msgs, list) or not msgs:
        return f"{MALFORMED}: 'messages' must be a non-empty list"
    out = []
    for i, m in enumerate(msgs):
        role = m.get("role") if isinstance(m, dict) and isinstance(m.get("role"), str) else None
        role = ROLE_ALIASES.get(role, role)
        text = content_text(m.get("content")) if isinstance(m, dict) else None
        if role not in ROLES or text is None:
            return f"{MALFORMED}: message {i} needs role system/user/assistant and text or typed-part content"
        out.append({"role": role, "content": text})
    insert_image_tag(out, num_images)
    return out


def read_messages(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    path = require_file(spec.path, "messages file", "pass a JSON/JSONL file of {messages, images} rows")
    yield from read_conversation_rows(spec, path, "messages", lambda obj, n: normalize_messages(obj.get("messages"), n))
