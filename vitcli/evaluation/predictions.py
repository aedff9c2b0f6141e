"""Readers for prediction and reference files, and the coverage check between them.
Predictions: COCO caption results, VQA results and GQA predictions (JSON lists), LLaVA answer JSONL, vitcli
predictions JSONL. References: COCO caption annotations, VQA v2 questions + annotations, ScienceQA pid_splits, and
simple JSON/JSONL (or GQA questions / ScienceQA problems objects) for the other tasks. Every malformed input is a
DataError naming the file and row; ids become strings. No torch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.runtime.errors import DataError
from vitcli.runtime.io import JSON_ERRORS, json_error_message, open_text

# (id key, text key) pairs that identify a prediction row, most specific first
PREDICTION_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("id", "prediction", "vitcli predictions JSONL"),
    ("questionId", "prediction", "GQA predictions"),
    ("question_id", "answer", "VQA results"),
    ("question_id", "text", "LLaVA answers JSONL"),
    ("image_id", "caption", "COCO caption results"),
)


@dataclass
class Loaded:
    """A parsed input file and where it came from (for provenance)."""

    path: str
    sha256: str
    data: Any
    format: str = ""


@dataclass
class Predictions:
    texts: dict[str, str]  # id -> predicted text, file order
    source: Loaded
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> other fields of the row


@dataclass
class VqaQuestion:
    question_id: str
    answers: list[str]
    answer_type: str | None = None
    question_type: str | None = None
    question: str | None = None
    image_id: str | None = None
    multiple_choice_answer: str | None = None


def _first(ids: list[Any], n: int = 5) -> str:
    return ", ".join(repr(i) for i in ids[:n]) + (f" ... ({len(ids)} in all)" if len(ids) > n else "")


def read_text(path: str | Path) -> tuple[str, str]:
    """(text, sha256 of the bytes read); '-' reads stdin. Missing files and bad UTF-8 are DataErrors."""
    if str(path) == "-":
        with open_text("-") as f:
            text = f.read()
        return text, hashlib.sha256(text.encode("utf-8")).hexdigest()
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file '{p}' not found", "check the path")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"'{path}' is not valid UTF-8 (byte {e.start})", "re-encode the file as UTF-8") from None
    return text, hashlib.sha256(raw).hexdigest()


def _json_error(path: Any, e: Exception, hint: str = "fix the file or check that it is the right one") -> DataError:
    where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
    return DataError(f"'{path}' is not valid JSON: {json_error_message(e)}{where}", hint)


def load_json_or_jsonl(path: str | Path) -> Loaded:
    """A whole JSON document, or JSON Lines (then `data` is a list of (line_number, object))."""
    text, sha = read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"'{path}' is empty", "check the path, or what was piped to stdin")
    try:
        return Loaded(str(path), sha, json.loads(text), "json")
    except JSON_ERRORS as whole_error:
        if stripped[0] == "[":
            raise _json_error(path, whole_error) from None
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except JSON_ERRORS as e:
                if lineno == 1 and stripped[0] == "{" and not rows:
                    raise _json_error(path, whole_error) from None
                raise DataError(
                    f"line {lineno} of '{path}' is not valid JSON: {json_error_message(e)}",
                    "fix or remove that line",
                ) from None
        return Loaded(str(path), sha, rows, "jsonl")


def _rows(loaded: Loaded, what: str) -> Iterator[tuple[str, Any]]:
    """(where, row) for a JSON list or JSONL file; anything else is a DataError."""
    if loaded.format == "jsonl":
        for lineno, row in loaded.data:
            yield f"line {lineno} of '{loaded.path}'", row
    elif isinstance(loaded.data, list):
        for i, row in enumerate(loaded.data):
            yield f"item {i} of '{loaded.path}'", row
    elif isinstance(loaded.data, dict):  # one JSON object on a single line is JSONL with one row
        yield f"line 1 of '{loaded.path}'", loaded.data
    else:
        raise DataError(
            f"'{loaded.path}' holds a {type(loaded.data).__name__}, not {what}",
            "pass a JSON list or a JSON Lines file",
        )


def _id(value: Any, where: str, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: '{key}' must be a string or an integer, not {value!r}", "fix that row")
    return str(value)


def _detect(row: Mapping[str, Any], where: str) -> tuple[str, str, str]:
    for id_key, text_key, name in PREDICTION_FORMATS:
        if id_key in row and text_key in row:
            return id_key, text_key, name
    raise DataError(
        f"{where} is not a prediction row: it has keys {sorted(row)[:8]}",
        "expected {id, prediction}, {questionId, prediction}, {question_id, answer}, {question_id, text} "
        "or {image_id, caption}",
    )


def read_predictions(path: str | Path) -> Predictions:
    """Predictions from any supported format ('-' = stdin); the format is detected from the first row and
    must hold for every row. Duplicate ids are a DataError listing the first few."""
    loaded = load_json_or_jsonl(path)
    texts: dict[str, str] = {}
    extra: dict[str, dict[str, Any]] = {}
    dups: list[str] = []
    fmt: tuple[str, str, str] | None = None
    for where, row in _rows(loaded, "prediction rows"):
        if not isinstance(row, dict):
            raise DataError(f"{where} is a {type(row).__name__}, not an object", "each prediction is a JSON object")
        if fmt is None:
            fmt = _detect(row, where)
        id_key, text_key, name = fmt
        if id_key not in row or text_key not in row:
            raise DataError(f"{where} lacks '{id_key}' or '{text_key}' (the file looks like {name})", "fix that row")
        pid, text = _id(row[id_key], where, id_key), row[text_key]
        if not isinstance(text, str):
            raise DataError(f"{where}: '{text_key}' must be a string, not {text!r}", "fix that row")
        if pid in texts:
            dups.append(pid)
            continue
        texts[pid] = text
        rest = {k: v for k, v in row.items() if k not in (id_key, text_key)}
        if rest:
            extra[pid] = rest
    if dups:
        raise DataError(f"'{path}' has duplicate prediction ids: {_first(dups)}", "keep one prediction per id")
    if not texts:
        raise DataError(f"'{path}' holds no predictions", "check the file")
    loaded.format = fmt[2] if fmt else loaded.format
    return Predictions(texts=texts, source=loaded, extra=extra)


def read_coco_captions(path: str | Path) -> tuple[dict[str, list[str]], Loaded]:
    """COCO caption annotations ({images, annotations}) -> image id -> captions, in the file's image order
    (the order the official demo scores in), captions in annotation order. Also accepts rows of
    {id, references: [...]} (JSON list or JSONL)."""
    loaded = load_json_or_jsonl(path)
    data = loaded.data
    refs: dict[str, list[str]] = {}
    if isinstance(data, dict) and "annotations" in data:
        if not isinstance(data["annotations"], list):
            raise DataError(f"'{path}': 'annotations' must be a list", "is this a COCO captions file?")
        for i, img in enumerate(data.get("images") or []):
            if not isinstance(img, dict) or "id" not in img:
                raise DataError(f"image {i} of '{path}' has no 'id'", "fix the file")
            refs[_id(img["id"], f"image {i} of '{path}'", "id")] = []
        for i, ann in enumerate(data["annotations"]):
            where = f"annotation {i} of '{path}'"
            if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
                raise DataError(f"{where} needs 'image_id' and a string 'caption'", "fix the file")
            refs.setdefault(_id(ann["image_id"], where, "image_id"), []).append(ann["caption"])
        loaded.format = "COCO caption annotations"
        return refs, loaded
    for where, row in _rows(loaded, "COCO caption annotations"):
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("references"), list):
            raise DataError(
                f"{where} needs 'id' and a list 'references'",
                "pass COCO caption annotations ({images, annotations}) or {id, references} rows",
            )
        if not all(isinstance(r, str) for r in row["references"]):
            raise DataError(f"{where}: every reference must be a string", "fix that row")
        refs[_id(row["id"], where, "id")] = list(row["references"])
    loaded.format = "references rows"
    return refs, loaded


def read_vqa_annotations(
    annotations: str | Path, questions: str | Path | None = None
) -> tuple[dict[str, VqaQuestion], list[Loaded]]:
    """Official VQA v2 annotations (+ optional questions, for question text and a consistency check) ->
    question id -> VqaQuestion, in annotation order (the official scorer's order)."""
    ann_file = load_json_or_jsonl(annotations)
    anns = ann_file.data.get("annotations") if isinstance(ann_file.data, dict) else None
    if not isinstance(anns, list):
        raise DataError(
            f"'{annotations}' is not a VQA annotations file (no 'annotations' list)",
            "pass e.g. v2_mscoco_val2014_annotations.json to --annotations",
        )
    ann_file.format = "VQA v2 annotations"
    out: dict[str, VqaQuestion] = {}
    for i, ann in enumerate(anns):
        where = f"annotation {i} of '{annotations}'"
        if not isinstance(ann, dict) or "question_id" not in ann or not isinstance(ann.get("answers"), list):
            raise DataError(f"{where} needs 'question_id' and an 'answers' list", "fix the file")
        answers = []
        for a in ann["answers"]:
            if not isinstance(a, dict) or not isinstance(a.get("answer"), str):
                raise DataError(f"{where}: each answer must be an object with a string 'answer'", "fix the file")
            answers.append(a["answer"])
        if not answers:
            raise DataError(f"{where} has no answers", "every question needs its annotators' answers")
        qid = _id(ann["question_id"], where, "question_id")
        if qid in out:
            raise DataError(f"{where}: question id {qid!r} appears twice", "fix the file")
        out[qid] = VqaQuestion(
            qid,
            answers,
            ann.get("answer_type"),
            ann.get("question_type"),
            image_id=None if ann.get("image_id") is None else str(ann["image_id"]),
            multiple_choice_answer=ann.get("multiple_choice_answer"),
        )
    sources = [ann_file]
    if questions is not None:
        q_file = load_json_or_jsonl(questions)
        qs = q_file.data.get("questions") if isinstance(q_file.data, dict) else None
        if not isinstance(qs, list):
            raise DataError(
                f"'{questions}' is not a VQA questions file (no 'questions' list)",
                "pass e.g. v2_OpenEnded_mscoco_val2014_questions.json to --questions",
            )
        q_file.format = "VQA v2 questions"
        for i, q in enumerate(qs):
            if not isinstance(q, dict) or "question_id" not in q:
                raise DataError(f"question {i} of '{questions}' has no 'question_id'", "fix the file")
            item = out.get(str(q["question_id"]))
            if item is not None:
                item.question = q.get("question")
        unasked = [k for k, v in out.items() if v.question is None]
        if unasked:
            raise DataError(
                f"{len(unasked)} annotated question(s) are missing from '{questions}': {_first(unasked)}",
                "pass the questions file that matches the annotations",
            )
        sources.append(q_file)
    return out, sources


def read_keyed_references(path: str | Path, fields: tuple[str, ...]) -> tuple[dict[str, dict[str, Any]], Loaded]:
    """References for GQA / multiple-choice / POPE: a JSON object keyed by id (GQA questions, ScienceQA
    problems.json), or rows (JSON list / JSONL) with an id key (id, question_id or pid). Each entry must
    hold one of `fields`."""
    loaded = load_json_or_jsonl(path)
    out: dict[str, dict[str, Any]] = {}
    if loaded.format == "json" and isinstance(loaded.data, dict) and not any(k in loaded.data for k in fields):
        items = [(f"entry {k!r} of '{path}'", k, v) for k, v in loaded.data.items()]
    else:
        items = []
        for where, row in _rows(loaded, "reference rows"):
            key = next((k for k in ("id", "question_id", "pid") if isinstance(row, dict) and k in row), None)
            if key is None:
                raise DataError(f"{where} has no 'id' / 'question_id'", "every reference row needs an id")
            items.append((where, _id(row[key], where, key), row))
    for where, rid, row in items:
        if not isinstance(row, dict) or not any(f in row for f in fields):
            raise DataError(f"{where} has none of {list(fields)}", "fix that entry")
        if rid in out:
            raise DataError(f"{where}: id {rid!r} appears twice", "fix the file")
        out[rid] = row
    return out, loaded


def read_pid_splits(path: str | Path, split: str) -> tuple[list[str], Loaded]:
    """ScienceQA's pid_splits.json (split name -> list of problem ids) -> the ids of `split`, in file order."""
    loaded = load_json_or_jsonl(path)
    data = loaded.data
    if loaded.format != "json" or not isinstance(data, dict):
        raise DataError(f"'{path}' is not a pid_splits file (a JSON object of split -> ids)", "pass pid_splits.json")
    if split not in data:
        raise DataError(f"'{path}' has no split '{split}'", f"choose --split from: {', '.join(map(str, data))}")
    pids = data[split]
    if not isinstance(pids, list):
        raise DataError(f"split '{split}' of '{path}' is not a list of problem ids", "fix the file")
    ids = [_id(p, f"split '{split}' of '{path}'", "pid") for p in pids]
    if len(set(ids)) != len(ids):
        raise DataError(f"split '{split}' of '{path}' lists a problem id twice", "fix the file")
    loaded.format = "ScienceQA pid_splits"
    return ids, loaded


@dataclass
class Coverage:
    scored: list[str]  # ids with a prediction, reference order
    missing: list[str]  # reference ids without a prediction


def check_coverage(
    pred_ids: Mapping[str, Any],
    ref_ids: Mapping[str, Any],
    *,
    allow_missing: bool,
    missing_ok: bool = False,
    what: str = "prediction",
) -> Coverage:
    """Extra prediction ids are always an error; missing ones are an error unless allow_missing (then scored
    0 by the caller) or missing_ok (the COCO caption convention: score only what was predicted)."""
    extra = [k for k in pred_ids if k not in ref_ids]
    if extra:
        raise DataError(
            f"{len(extra)} {what} id(s) have no reference: {_first(extra)}",
            "check that predictions and references come from the same split and use the same ids",
        )
    missing = [k for k in ref_ids if k not in pred_ids]
    if missing and not (allow_missing or missing_ok):
        raise DataError(
            f"{len(missing)} reference id(s) have no {what}: {_first(missing)}",
            "pass --allow-missing to score them as 0",
        )
    scored = [k for k in ref_ids if k in pred_ids]
    if not scored:
        raise DataError(f"no {what} matches a reference id", "check that predictions and references use the same ids")
    return Coverage(scored=scored, missing=missing)
