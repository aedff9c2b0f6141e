"""POPE (object hallucination): accuracy, precision, recall, F1, yes-ratio; 'yes' is the positive class.

The answer parser is the official POPE one (RUCAIBox/POPE evaluate.py), documented here because tools differ:
  1. keep only the text before the first '.', if there is one;
  2. delete commas, split on single spaces;
  3. the answer is 'no' if any word is exactly 'No', 'no' or 'not' (case-sensitive), otherwise 'yes'.
So "Yes, there is a dog." -> yes, "There is no dog." -> no, "NO" -> yes (sic), "" -> yes.
Gold labels are 'yes'/'no' (case-insensitive, surrounding whitespace ignored). Pure Python."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vitcli.runtime.errors import DataError


def parse_yes_no(text: str) -> str:
    """The official POPE parser (see module docstring): returns 'yes' or 'no'."""
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


@dataclass
class PopeScores:
    accuracy: float
    precision: float
    recall: float
    f1: float
    yes_ratio: float
    counts: dict[str, int] = field(default_factory=dict)  # tp, fp, tn, fn
    per_item: dict[Any, float] = field(default_factory=dict)  # id -> 1.0 correct / 0.0 wrong
    parsed: dict[Any, str] = field(default_factory=dict)  # id -> 'yes' | 'no'

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "yes_ratio": self.yes_ratio,
            **self.counts,
        }


def _label(value: Any, qid: Any) -> str:
    label = str(value).strip().lower()
    if label not in ("yes", "no"):
        raise DataError(f"POPE label of {qid!r} is {value!r}, not 'yes' or 'no'", "check the labels file")
    return label


def compute_pope_metrics(predictions: Mapping[Any, str], labels: Mapping[Any, str]) -> PopeScores:
    """Fractions in [0, 1]; precision/recall/F1 are 0.0 when their denominator is 0."""
    if not predictions:
        raise DataError("there are no POPE predictions to score", "check the predictions file")
    tp = fp = tn = fn = 0
    per_item: dict[Any, float] = {}
    parsed: dict[Any, str] = {}
    for qid, text in predictions.items():
        if qid not in labels:
            raise DataError(f"POPE question {qid!r} has no label", "check the labels file")
        gold, pred = _label(labels[qid], qid), parse_yes_no(text)
        parsed[qid] = pred
        per_item[qid] = 1.0 if pred == gold else 0.0
        if pred == "yes":
            tp, fp = (tp + 1, fp) if gold == "yes" else (tp, fp + 1)
        else:
            tn, fn = (tn + 1, fn) if gold == "no" else (tn, fn + 1)
    n = tp + fp + tn + fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PopeScores(
        accuracy=(tp + tn) / n,
        precision=precision,
        recall=recall,
        f1=f1,
        yes_ratio=(tp + fp) / n,
        counts={"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        per_item=per_item,
        parsed=parsed,
    )
