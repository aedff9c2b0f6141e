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
    if key is None and first_char(path) == "[":
        yield from iter_json_array(path)  # streamed: llava_v1_5_mix665k.json is ~1 GB
        return
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


def first_char(path: Path) -> str:
    """The first non-whitespace character of a text file (after a UTF-8 BOM), '' when there is none."""
    with path.open("rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("latin-1")


def iter_json_array(path: Path, chunk_chars: int = 1 << 20) -> Iterator[tuple[int, Any]]:
    """(1-based index, element) of a top-level JSON array, parsed incrementally: memory holds one chunk plus the
    element being parsed (an element may span chunks), never the whole file. Invalid JSON is a DataError naming
    the element and the line, as json.load's would be (the build then fails and writes nothing)."""
    decoder = json.JSONDecoder()
    with path.open("r", encoding="utf-8-sig", errors="strict") as f:
        reader = ArrayReader(f, chunk_chars, path)
        reader.expect("[")
        index = 0
        if reader.peek() == "]":
            reader.pos += 1
        else:
            while True:
                index += 1
                yield index, reader.decode(decoder, index)
                sep = reader.peek()
                reader.pos += 1
                if sep == "]":
                    break
                if sep != ",":
                    reader.fail(f"expected ',' or ']' after element {index}")
        if reader.peek() != "":
            reader.fail("extra data after the closing ']'")


class ArrayReader:
    """A text buffer over a file for iter_json_array: refills by chunks and drops what was consumed."""

    def __init__(self, f: Any, chunk_chars: int, path: Path) -> None:
        self.f, self.chunk, self.path = f, chunk_chars, path
        self.buf, self.pos, self.line, self.eof = "", 0, 1, False  # line: of buf[0] in the file

    def more(self) -> bool:
        if self.eof:
            return False
        if self.pos > self.chunk:  # drop consumed text (counting its lines for error messages)
            self.line += self.buf.count("\n", 0, self.pos)
            self.buf, self.pos = self.buf[self.pos :], 0
        try:
            data = self.f.read(max(self.chunk, len(self.buf) - self.pos))  # doubling: a long element parses O(n)
        except UnicodeDecodeError as e:
            raise DataError(
                f"'{self.path}' is not valid UTF-8 (byte {e.start} of a chunk)", "re-encode as UTF-8"
            ) from None
        self.eof = not data
        self.buf += data
        return not self.eof

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end of the file), consuming the whitespace."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self.more():
                return self.buf[self.pos : self.pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expected '{char}'")
        self.pos += 1

    def decode(self, decoder: json.JSONDecoder, index: int) -> Any:
        self.peek()  # raw_decode takes no leading whitespace
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except JSON_ERRORS as e:
                if len(self.buf) - self.pos <= MAX_LINE_BYTES and self.more():
                    continue  # the element may just be cut by the chunk boundary
                self.fail(f"element {index} is not valid JSON ({json_error_message(e)})")
            if end == len(self.buf) and self.more():
                continue  # a number cut at the boundary ('12' of '123') decodes: re-read it whole
            self.pos = end
            return value

    def fail(self, what: str) -> None:
        line = self.line + self.buf.count("\n", 0, self.pos)
        raise DataError(
            f"'{self.path}' is not valid JSON: {what} (line {line})", "fix the file or check that it is the right one"
        )


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
