"""Multiple-choice accuracy (ScienceQA style): extract the chosen letter from free text, compare with the key.

The parser, in order (steps 1-3 are LLaVA's eval_science_qa.py, so strict mode reproduces its numbers):
  1. the whole prediction is a letter A-E                                  "B"           -> B
  2. it starts with a letter, a period and a space                         "B. a cat"    -> B
  3. exactly one match of r"The answer is ([A-Z])."                        "... The answer is C." -> C
  otherwise, only when strict=False:
  4. a leading "(B)" / "B)" / "B:" / "B," after whitespace is stripped     "(B) a cat"   -> B
  5. exactly one match of r"answer(?: is|:)\\s*\\(?([A-Z])\\b" (any case)      "answer: (d)" -> D
  6. the prediction equals one option's text (case/space-insensitive), or contains exactly one
     option's text as a whole phrase                                        "a cat"       -> that letter
A letter beyond the number of choices counts as wrong, and so does an unparsable answer. Pure Python."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vitcli.runtime.errors import DataError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LLAVA_OPTIONS = ("A", "B", "C", "D", "E")
_THE_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")
_LEADING = re.compile(r"^\(?([A-Z])(?:\)|:|,)(?:\s|$)")
_ANSWER_COLON = re.compile(r"answer(?: is|:)\s*\(?([A-Z])\b", re.IGNORECASE)


@dataclass
class ChoiceItem:
    id: Any
    prediction: str
    answer: str | int  # the key: a letter, or a 0-based index into choices
    choices: Sequence[str] | None = None


@dataclass
class ChoiceScores:
    accuracy: float  # 0-100
    num_unparsed: int
    per_item: dict[Any, float] = field(default_factory=dict)
    parsed: dict[Any, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "num_unparsed": self.num_unparsed}


def extract_choice(text: str, choices: Sequence[str] | None = None, *, strict: bool = True) -> str | None:
    """The chosen letter, or None when the text cannot be parsed (see the module docstring)."""
    if text in LLAVA_OPTIONS:
        return text
    if len(text) >= 3 and text[0] in LLAVA_OPTIONS and text[1:3] == ". ":
        return text[0]
    found = _THE_ANSWER_IS.findall(text)
    if len(found) == 1:
        return found[0]
    if strict:
        return None
    stripped = text.strip()
    if len(stripped) == 1 and stripped.upper() in LETTERS:
        return stripped.upper()
    m = _LEADING.match(stripped)
    if m:
        return m.group(1)
    found = _ANSWER_COLON.findall(stripped)
    if len(found) == 1:
        return found[0].upper()
    if choices:
        norm = " ".join(stripped.lower().rstrip(".").split())
        options = [" ".join(str(c).lower().split()) for c in choices]
        if norm in options:
            return LETTERS[options.index(norm)]
        hits = [i for i, o in enumerate(options) if o and re.search(rf"(?<!\w){re.escape(o)}(?!\w)", norm)]
        if len(hits) == 1:
            return LETTERS[hits[0]]
    return None


def _key_letter(answer: str | int, qid: Any) -> str:
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(LETTERS):
        return LETTERS[answer]
    if isinstance(answer, str) and answer.strip().upper() in LETTERS and len(answer.strip()) == 1:
        return answer.strip().upper()
    raise DataError(
        f"answer key of {qid!r} is {answer!r}, not a letter or a 0-based index",
        "write the key as 'A'..'Z' or as the index of the right choice",
    )


def compute_choice_accuracy(items: Sequence[ChoiceItem | Mapping[str, Any]], *, strict: bool = True) -> ChoiceScores:
    if not items:
        raise DataError("there are no multiple-choice predictions to score", "check the predictions file")
    per_item: dict[Any, float] = {}
    parsed: dict[Any, str | None] = {}
    for item in items:
        if isinstance(item, Mapping):
            item = ChoiceItem(item["id"], item["prediction"], item["answer"], item.get("choices"))
        key = _key_letter(item.answer, item.id)
        letter = extract_choice(item.prediction, item.choices, strict=strict)
        if letter is not None and item.choices and LETTERS.index(letter) >= len(item.choices):
            letter = None  # LLaVA: a letter past the last choice is a failure
        parsed[item.id] = letter
        per_item[item.id] = 1.0 if letter == key else 0.0
    return ChoiceScores(
        accuracy=100 * sum(per_item.values()) / len(per_item),
        num_unparsed=sum(v is None for v in parsed.values()),
        per_item=per_item,
        parsed=parsed,
    )
