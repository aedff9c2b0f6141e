"""GQA accuracy: exact match of prediction and the single gold answer after normalisation.
Normalisation is the VQA v2 one (vitcli.metrics.vqa.normalize_answer: whitespace, punctuation, lower case,
number words -> digits, articles dropped, contractions), applied to BOTH sides, always. Pure Python."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vitcli.metrics.vqa import normalize_answer
from vitcli.runtime.errors import DataError


@dataclass
class GqaScores:
    accuracy: float  # 0-100, unrounded
    per_item: dict[Any, float] = field(default_factory=dict)  # id -> 1.0 / 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy}


def compute_gqa_accuracy(predictions: Mapping[Any, str], answers: Mapping[Any, str]) -> GqaScores:
    """Score every id of `predictions` against `answers[id]`; a missing gold answer is a DataError."""
    if not predictions:
        raise DataError("there are no GQA predictions to score", "check the predictions file")
    cache: dict[str, str] = {}

    def norm(text: str) -> str:
        out = cache.get(text)
        if out is None:
            out = cache[text] = normalize_answer(text)
        return out

    per_item: dict[Any, float] = {}
    for qid, pred in predictions.items():
        if qid not in answers:
            raise DataError(f"GQA question {qid!r} has no gold answer", "check the questions file")
        per_item[qid] = 1.0 if norm(pred) == norm(answers[qid]) else 0.0
    return GqaScores(accuracy=100 * sum(per_item.values()) / len(per_item), per_item=per_item)


def exact_match_items(items: Iterable[tuple[Any, str, str]]) -> GqaScores:
    """Convenience: (id, prediction, answer) triples."""
    preds, golds = {}, {}
    for qid, pred, gold in items:
        preds[qid], golds[qid] = pred, gold
    return compute_gqa_accuracy(preds, golds)
