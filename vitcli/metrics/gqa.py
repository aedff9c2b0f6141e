"""GQA accuracy. Default ("official"): the GQA `eval.py` as LLaVA runs it - LLaVA's converter strips trailing
periods (str.rstrip('.')) and lower-cases the prediction, then eval.py does exact string match against the gold
answer as written, over *balanced* questions only (`isBalanced`; a question without the key counts), with
per-type accuracy by `types.structural` / `types.semantic` when the questions carry them. "vqa": the VQA v2
normalisation (vitcli.metrics.vqa.normalize_answer) on both sides, a lenient variant. Pure Python."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vitcli.metrics.vqa import normalize_answer
from vitcli.runtime.errors import DataError

GQA_NORMALIZATIONS = ("official", "vqa")


def official_prediction(text: str) -> str:
    """What LLaVA's convert_gqa_for_eval.py hands eval.py: trailing periods stripped, then lower case."""
    return text.rstrip(".").lower()


@dataclass
class GqaScores:
    accuracy: float  # 0-100 over balanced questions, unrounded
    per_item: dict[Any, float] = field(default_factory=dict)  # id -> 1.0 / 0.0 (every question, balanced or not)
    num_balanced: int = 0
    num_unbalanced: int = 0  # scored per item, left out of accuracy (official)
    by_structural: dict[str, float] = field(default_factory=dict)  # types.structural -> accuracy (balanced)
    by_semantic: dict[str, float] = field(default_factory=dict)  # types.semantic -> accuracy (balanced)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "num_balanced": self.num_balanced,
            "num_unbalanced": self.num_unbalanced,
        }
        if self.by_structural:
            out["structural"] = self.by_structural
        if self.by_semantic:
            out["semantic"] = self.by_semantic
        return out


def _by_type(per: Mapping[Any, float], kinds: Mapping[Any, str | None]) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for qid, score in per.items():
        kind = kinds.get(qid)
        if kind is not None:
            groups.setdefault(str(kind), []).append(score)
    return {k: 100 * sum(v) / len(v) for k, v in sorted(groups.items())}


def compute_gqa_accuracy(
    predictions: Mapping[Any, str],
    answers: Mapping[Any, str],
    *,
    normalize: str = "official",
    balanced: Mapping[Any, bool] | None = None,
    types: Mapping[Any, Mapping[str, Any]] | None = None,
) -> GqaScores:
    """Score every id of `predictions` against `answers[id]`; a missing gold answer is a DataError.
    balanced: id -> isBalanced (absent ids count as balanced); types: id -> GQA `types` dict."""
    if not predictions:
        raise DataError("there are no GQA predictions to score", "check the predictions file")
    if normalize not in GQA_NORMALIZATIONS:
        raise DataError(f"unknown GQA normalisation '{normalize}'", f"use one of: {', '.join(GQA_NORMALIZATIONS)}")
    cache: dict[str, str] = {}

    def vqa_norm(text: str) -> str:
        out = cache.get(text)
        if out is None:
            out = cache[text] = normalize_answer(text)
        return out

    per_item: dict[Any, float] = {}
    for qid, pred in predictions.items():
        if qid not in answers:
            raise DataError(f"GQA question {qid!r} has no gold answer", "check the questions file")
        if normalize == "official":
            hit = official_prediction(pred) == answers[qid]
        else:
            hit = vqa_norm(pred) == vqa_norm(answers[qid])
        per_item[qid] = 1.0 if hit else 0.0
    return summarize_gqa(per_item, balanced, types)


def summarize_gqa(
    per_item: Mapping[Any, float],
    balanced: Mapping[Any, bool] | None = None,
    types: Mapping[Any, Mapping[str, Any]] | None = None,
) -> GqaScores:
    """Accuracy (and per-type accuracy) over the balanced ids of per-item scores, as the official eval.py."""
    balanced = balanced or {}
    counted = {k: v for k, v in per_item.items() if balanced.get(k, True)}
    if not counted:
        raise DataError(
            f"none of the {len(per_item)} GQA questions scored is balanced (isBalanced is false for all)",
            "the official GQA accuracy counts balanced questions only: score a balanced split",
        )
    types = types or {}
    return GqaScores(
        accuracy=100 * sum(counted.values()) / len(counted),
        per_item=dict(per_item),
        num_balanced=len(counted),
        num_unbalanced=len(per_item) - len(counted),
        by_structural=_by_type(counted, {k: (types.get(k) or {}).get("structural") for k in counted}),
        by_semantic=_by_type(counted, {k: (types.get(k) or {}).get("semantic") for k in counted}),
    )


def exact_match_items(items: Iterable[tuple[Any, str, str]], normalize: str = "official") -> GqaScores:
    """Convenience: (id, prediction, answer) triples."""
    preds, golds = {}, {}
    for qid, pred, gold in items:
        preds[qid], golds[qid] = pred, gold
    return compute_gqa_accuracy(preds, golds, normalize=normalize)
