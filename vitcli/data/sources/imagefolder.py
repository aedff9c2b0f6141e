"""HF imagefolder: DIR/metadata.jsonl|csv (or DIR/<split>/metadata.*) with `file_name` plus columns such as
caption/text, question/answer(s), messages or conversations. Column roles come from the names below and
`--column name=role` (`image`: one image per row; `images`: a list of them, one per '<image>');
row_to_candidate() is shared with the hf reader."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vitcli.data.records import Record
from vitcli.data.sources.common import SourceSpec, answers_of, iter_jsonl_rows, majority, split_name
from vitcli.data.templates import Templates
from vitcli.data.validate import BAD_UTF8, MALFORMED, Candidate, Rejection
from vitcli.runtime.errors import ConfigError, DataError

ROLES = (
    "id",
    "image",
    "images",
    "caption",
    "question",
    "answer",
    "answers",
    "messages",
    "conversations",
    "answer_type",
    "question_type",
    "ignore",
)
DEFAULT_ROLES = {
    "file_name": "image",
    "image": "image",
    "image_path": "image",
    "images": "images",
    "id": "id",
    "question_id": "id",
    "caption": "caption",
    "captions": "caption",
    "text": "caption",
    "sentences": "caption",
    "question": "question",
    "query": "question",
    "answer": "answer",
    "multiple_choice_answer": "answer",
    "answers": "answers",
    "messages": "messages",
    "conversations": "conversations",
    "answer_type": "answer_type",
    "question_type": "question_type",
}


def parse_columns(specs: list[str]) -> dict[str, str]:
    """['desc=caption', 'img=image'] -> {'desc': 'caption', 'img': 'image'}."""
    out = {}
    for s in specs:
        name, sep, role = s.partition("=")
        if not sep or not name or role not in ROLES:
            raise ConfigError(f"bad --column '{s}'", f"use NAME=ROLE with ROLE one of: {', '.join(ROLES)}")
        out[name] = role
    return out


def image_column(names: list[str], columns: dict[str, str]) -> str | None:
    """The column holding a row's image(s): the first given a role image/images by --column, else by name."""
    roles = {**{k: v for k, v in DEFAULT_ROLES.items() if k in names}, **columns}
    return next((k for k in [*columns, *roles] if roles[k] in ("image", "images") and k in names), None)


def row_to_candidate(
    row: dict[str, Any],
    columns: dict[str, str],
    images: list[Any],
    *,
    fmt: str,
    file: str,
    rowno: int,
    root: str,
    split: str,
    templates: Templates,
    id_prefix: str,
) -> Candidate | Rejection:
    """Map one metadata/dataset row to a caption, VQA or conversation Candidate by its column roles."""
    from vitcli.data.sources.llava import conversations_to_messages
    from vitcli.data.sources.messages import normalize_messages

    roles = {**{k: v for k, v in DEFAULT_ROLES.items() if k in row}, **columns}
    val = {role: row.get(name) for name, role in roles.items() if name in row and role != "ignore"}
    rid = str(val["id"]) if val.get("id") not in (None, "") else f"{id_prefix}{rowno}"
    base = dict(id=rid, images=[], source=f"{fmt}:{file}:{rowno}")
    if val.get("messages") is not None or val.get("conversations") is not None:
        msgs = (
            normalize_messages(val["messages"], len(images))
            if val.get("messages") is not None
            else conversations_to_messages(val["conversations"], len(images))
        )
        if isinstance(msgs, str):
            return Rejection(file, rowno, msgs)
        rec = Record(**base, messages=msgs, task="conversation")
    elif isinstance(val.get("question"), str):
        answers = answers_of(val.get("answers")) or answers_of(val.get("answer"))
        target = (
            str(val["answer"])
            if isinstance(val.get("answer"), (str, int, float))
            else (majority(answers) if answers else None)
        )
        msgs = [{"role": "user", "content": templates.vqa_prompt(val["question"])}]
        if target is not None:
            msgs.append({"role": "assistant", "content": target})
        rec = Record(
            **base,
            messages=msgs,
            task="vqa",
            answers=answers,
            answer_type=val.get("answer_type") if isinstance(val.get("answer_type"), str) else None,
            question_type=val.get("question_type") if isinstance(val.get("question_type"), str) else None,
        )
    elif val.get("caption") is not None:
        caps = [c.strip() for c in answers_of(val["caption"]) if isinstance(c, str)]
        if not caps:
            return Rejection(file, rowno, "empty answer: caption is empty")
        rec = Record(
            **base,
            task="caption",
            references=caps,
            messages=[
                {"role": "user", "content": templates.caption_prompt(rid)},
                {"role": "assistant", "content": caps[0]},
            ],
        )
    else:
        return Rejection(
            file,
            rowno,
            f"{MALFORMED}: no caption/question/messages column "
            f"(columns: {', '.join(sorted(map(str, row)))}; map one with --column NAME=ROLE)",
        )
    return Candidate(rec, images, root, file, rowno, split)


def iter_metadata(path: Path) -> Iterator[tuple[int, Any] | Rejection]:
    if path.suffix == ".jsonl":
        yield from iter_jsonl_rows(path)
        return
    rowno = 1  # line 1 is the header
    try:
        with path.open("r", encoding="utf-8", newline="") as f:
            for rowno, row in enumerate(csv.DictReader(f), start=2):
                if None in row:  # more fields than the header names: DictReader files them under None
                    yield Rejection(path.name, rowno, f"{MALFORMED}: more fields than the header has columns")
                    continue
                yield rowno, row
    except UnicodeDecodeError as e:
        yield Rejection(path.name, "?", f"{BAD_UTF8}: byte {e.start}; the rest of the file is unreadable")
    except csv.Error as e:  # a field over csv's size limit, a NUL byte, a bad quote: the reader cannot go on
        yield Rejection(path.name, rowno + 1, f"{MALFORMED}: {e}; the rest of the file is unreadable")


def metadata_files(root: Path) -> list[tuple[Path, str]]:
    """(metadata file, split): DIR/metadata.* as train, else DIR/<split>/metadata.* for each split folder."""

    def find(d: Path) -> Path | None:
        return next((d / n for n in ("metadata.jsonl", "metadata.csv") if (d / n).is_file()), None)

    top = find(root)
    if top:
        return [(top, "train")]
    found = [(m, split_name(d.name)) for d in sorted(root.iterdir()) if d.is_dir() and (m := find(d))]
    if not found:
        raise DataError(
            f"no metadata.jsonl or metadata.csv in '{root}' (or its split folders)",
            "add a metadata file with a file_name column (HF imagefolder convention)",
        )
    return found


def read_imagefolder(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    root = Path(spec.path)
    if not root.is_dir():
        raise DataError(f"image folder '{root}' not found", "pass a directory holding images and metadata.jsonl")
    for meta, split in metadata_files(root):
        for item in iter_metadata(meta):
            if isinstance(item, Rejection):
                yield item
                continue
            rowno, row = item
            if not isinstance(row, dict):
                yield Rejection(meta.name, rowno, f"{MALFORMED}: expected an object")
                continue
            name_col = image_column(list(row), spec.columns)
            value = row.get(name_col) if name_col else None
            images = value if isinstance(value, list) else [] if value in (None, "") else [value]
            if not all(isinstance(x, str) and x for x in images):
                yield Rejection(meta.name, rowno, f"{MALFORMED}: '{name_col}' must be a file name (or a list of them)")
                continue
            sub = "" if meta.parent == root else f"{meta.parent.name}-"
            yield row_to_candidate(
                row,
                spec.columns,
                images,
                fmt="imagefolder",
                file=meta.name,
                rowno=rowno,
                root=str(meta.parent),
                split=spec.split or split,
                templates=templates,
                id_prefix=f"imagefolder-{sub}",
            )
