"""What every reader shares: the SourceSpec a reader is given, tolerant JSON/JSONL row iteration (a bad line
is a Rejection with its line number, not an abort), split names, and answer helpers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.data.validate import BAD_UTF8, MALFORMED, Rejection
from vitcli.runtime.errors import DataError
from vitcli.runtime.io import JSON_ERRORS, MAX_LINE_BYTES, iter_lines, json_error_message, read_json

SPLIT_ALIASES = {
    "train": "train",
    "restval": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
    "testdev": "test",
    "test-dev": "test",
    "minival": "validation",
}


@dataclass
class SourceSpec:
    """One input: its format (`kind`), the file/dir/name, and format-specific options."""

    kind: str
    path: str = ""
    images: str | None = None  # image root; default: the folder holding `path`
    annotations: str | None = None  # vqav2 annotations file
    hf_config: str | None = None
    hf_split: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # column name -> role (imagefolder, hf)
    split: str | None = None  # split for every row of a source without its own splits
    each_caption: bool = False  # coco: one row per caption instead of one per image
    image_pattern: str | None = None  # vqav2: path of an image from data_subtype and image_id
    ratio: float = 1.0  # mix: fraction of rows kept (>1 repeats whole copies)
    max_samples: int | None = None

    def image_root(self) -> str:
        if self.images:
            return self.images
        p = Path(self.path)
        return str(p if p.is_dir() else p.parent)


def split_name(name: str | None, default: str = "train") -> str:
    """Canonical split for a source's own split label (Karpathy 'restval' -> train, 'val' -> validation)."""
    if not name:
        return default
    return SPLIT_ALIASES.get(str(name).lower(), str(name).lower())


def split_from_filename(path: str, default: str = "train") -> str:
    """'captions_val2014.json' -> validation, 'v2_OpenEnded_mscoco_test2015_questions.json' -> test."""
    stem = Path(path).name.lower()
    for key, split in (("test", "test"), ("val", "validation"), ("train", "train")):
        if key in stem:
            return split
    return default


def require_file(path: str, what: str, hint: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} '{path}' not found", hint)
    return p


def iter_jsonl_rows(path: Path) -> Iterator[tuple[int, Any] | Rejection]:
    """Stream (line, object) pairs; undecodable or malformed lines become Rejections naming the line."""
    with path.open("rb") as f:
        for lineno, raw, too_long in iter_lines(f):
            if too_long:
                yield Rejection(path.name, lineno, f"{MALFORMED}: line longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Rejection(path.name, lineno, f"{BAD_UTF8}: byte {e.start} of line {lineno}")
                continue
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except JSON_ERRORS as e:
                reason = f"{MALFORMED}: line {lineno} is not valid JSON ({json_error_message(e)})"
                yield Rejection(path.name, lineno, reason)


def iter_json_rows(path: Path, key: str | None = None) -> Iterator[tuple[int, Any] | Rejection]:
    """Rows of a JSON list (1-based index), of `obj[key]`, or of a JSONL file (by suffix or content)."""
    if path.suffix.lower() == ".jsonl":
        yield from iter_jsonl_rows(path)
        return
    if path.stat().st_size < 64 and not path.read_bytes().strip():
        return  # an empty file: no rows (the caller reports the empty source)
    try:
        data = read_json(path)
    except DataError as e:
        if "Extra data" in e.message:  # a JSONL file named .json
            yield from iter_jsonl_rows(path)
            return
        raise
    if key is not None:
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise DataError(
                f"'{path.name}' has no '{key}' list at the top level",
                "check that this is the right file for this source",
            )
        data = data[key]
    if not isinstance(data, list):
        raise DataError(
            f"'{path.name}' holds a JSON {type(data).__name__.replace('dict', 'object')}, expected a list of records",
            "pass a JSON list (or JSONL, one record per line)",
        )
    yield from enumerate(data, start=1)


def is_key(value: Any) -> bool:
    """Whether a JSON value can be an id (a dict key): a string or a number, not a list or an object."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def answers_of(value: Any) -> list[str]:
    """VQA answers as strings: a string, a list of strings, or a list of {'answer': ...} dicts."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and isinstance(value.get("text"), list):  # SQuAD-like {'text': [...]}
        value = value["text"]
    out = []
    for a in value if isinstance(value, (list, tuple)) else [value]:
        out.append(str(a["answer"]) if isinstance(a, dict) and "answer" in a else str(a))
    return out


def majority(answers: list[str]) -> str:
    """The most common answer (first seen wins ties): the training target when no single answer is given."""
    counts = Counter(a.strip() for a in answers)
    best = max(counts.values())
    return next(a.strip() for a in answers if counts[a.strip()] == best)
