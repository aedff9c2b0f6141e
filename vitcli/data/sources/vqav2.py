"""VQA v2: questions ({"data_subtype", "questions": [{question_id, image_id, question}]}) joined with
annotations ({"annotations": [{question_id, answers[10], multiple_choice_answer, answer_type, ...}]}).
The target is multiple_choice_answer; all 10 answers are kept for scoring. Questions without an annotation
(test splits, or no --annotations) are kept as unanswered rows: user turn only, answers [], split test."""

from __future__ import annotations

from collections.abc import Iterator

from vitcli.data.records import Record
from vitcli.data.sources.common import (
    SourceSpec,
    answers_of,
    is_key,
    iter_json_rows,
    require_file,
    split_from_filename,
)
from vitcli.data.templates import Templates
from vitcli.data.validate import MALFORMED, Candidate, Rejection
from vitcli.runtime.errors import ConfigError
from vitcli.runtime.io import read_json

DEFAULT_PATTERN = "{data_subtype}/COCO_{data_subtype}_{image_id:012d}.jpg"


def image_path(pattern: str, subtype: str, image_id: int) -> str:
    """The image path an --image-pattern gives; a pattern with unknown fields is a ConfigError."""
    try:
        return pattern.format(data_subtype=subtype, image_id=image_id)
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise ConfigError(
            f"bad --image-pattern '{pattern}': {type(e).__name__} {e}",
            "use only {data_subtype} and {image_id}, e.g. '{data_subtype}/COCO_{data_subtype}_{image_id:012d}.jpg'",
        ) from None


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def read_vqav2(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    qpath = require_file(spec.path, "VQA v2 questions file", "pass --questions v2_OpenEnded_mscoco_*_questions.json")
    top = read_json(qpath)  # cheap next to the annotations join
    subtype = top.get("data_subtype", "") if isinstance(top, dict) else ""
    if not isinstance(subtype, str):
        subtype = ""
    annotations = {}
    if spec.annotations:
        apath = require_file(
            spec.annotations, "VQA v2 annotations file", "pass --annotations v2_mscoco_*_annotations.json"
        )
        for item in iter_json_rows(apath, key="annotations"):
            if not isinstance(item, Rejection) and isinstance(item[1], dict) and is_key(item[1].get("question_id")):
                annotations[item[1]["question_id"]] = item[1]
    pattern = spec.image_pattern or DEFAULT_PATTERN
    root, split = spec.image_root(), spec.split or split_from_filename(qpath.name)
    for item in iter_json_rows(qpath, key="questions"):
        if isinstance(item, Rejection):
            yield item
            continue
        row, q = item
        if not isinstance(q, dict) or not isinstance(q.get("question"), str) or not isinstance(q.get("image_id"), int):
            yield Rejection(qpath.name, row, f"{MALFORMED}: a question needs 'question', integer 'image_id'")
            continue
        qid = q["question_id"] if is_key(q.get("question_id")) else f"{q['image_id']}-{row}"
        rid = f"vqav2-{qid}"
        image = image_path(pattern, subtype, q["image_id"])
        user = {"role": "user", "content": templates.vqa_prompt(q["question"])}
        ann = annotations.get(qid)
        if ann is None:
            rec = Record(id=rid, images=[], messages=[user], task="vqa", source=f"vqav2:{qpath.name}:{row}")
            yield Candidate(rec, [image], root, qpath.name, row, "test")
            continue
        answers = answers_of(ann.get("answers"))
        target = ann.get("multiple_choice_answer", answers[0] if answers else "")
        target = target if isinstance(target, str) else str(target)
        rec = Record(
            id=rid,
            images=[],
            task="vqa",
            source=f"vqav2:{qpath.name}:{row}",
            answers=answers,
            answer_type=text_or_none(ann.get("answer_type")),
            question_type=text_or_none(ann.get("question_type")),
            messages=[user, {"role": "assistant", "content": target}],
        )
        yield Candidate(rec, [image], root, qpath.name, row, split)
