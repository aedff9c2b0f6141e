"""GQA exact match, multiple-choice letter extraction and POPE metrics, with their parsers pinned."""

from __future__ import annotations

import pytest

from vitcli.metrics.choice import ChoiceItem, compute_choice_accuracy, extract_choice
from vitcli.metrics.gqa import compute_gqa_accuracy
from vitcli.metrics.pope import compute_pope_metrics, parse_yes_no
from vitcli.runtime.errors import DataError


def test_gqa_exact_match_after_vqa_normalisation() -> None:
    preds = {"1": "The Table.", "2": "two", "3": "left", "4": "red cup"}
    golds = {"1": "table", "2": "2", "3": "right", "4": "cup"}
    s = compute_gqa_accuracy(preds, golds, normalize="vqa")
    assert s.per_item == {"1": 1.0, "2": 1.0, "3": 0.0, "4": 0.0}
    assert s.accuracy == 50.0
    assert compute_gqa_accuracy(preds, golds).accuracy == 0.0  # official: "the table" != "table", "two" != "2"
    with pytest.raises(DataError, match="no gold answer"):
        compute_gqa_accuracy({"9": "x"}, {})


@pytest.mark.parametrize(
    ("text", "strict", "expected"),
    [
        ("B", True, "B"),
        ("B. a cat", True, "B"),
        ("Because cats purr. The answer is C.", True, "C"),
        ("The answer is C. The answer is D.", True, None),  # two matches: LLaVA calls it FAILED
        ("(B) a cat", True, None),
        ("(B) a cat", False, "B"),
        ("b", False, "B"),
        ("answer: (d)", False, "D"),
        ("a cat", False, "B"),  # option text
        ("I think it is a dog", False, "A"),
        ("nothing useful", False, None),
    ],
)
def test_extract_choice(text: str, strict: bool, expected: str | None) -> None:
    assert extract_choice(text, ["a dog", "a cat", "a bird", "a fish"], strict=strict) == expected


def test_choice_accuracy_keys_and_range() -> None:
    items = [
        ChoiceItem("1", "A", 0, ["x", "y"]),
        ChoiceItem("2", "B", "a", ["x", "y"]),
        ChoiceItem("3", "E", "E"),  # no choices given: any letter A-E is accepted
        ChoiceItem("4", "C", 2, ["x", "y"]),
    ]  # C is past the last of 2 choices: failed
    s = compute_choice_accuracy(items)
    assert s.per_item == {"1": 1.0, "2": 0.0, "3": 1.0, "4": 0.0}
    assert s.accuracy == 50.0 and s.num_unparsed == 1
    with pytest.raises(DataError, match="answer key"):
        compute_choice_accuracy([ChoiceItem("1", "A", "zz")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, there is a dog.", "yes"),
        ("There is no dog.", "no"),
        ("No", "no"),
        ("not really", "no"),
        ("NO", "yes"),  # the official parser is case-sensitive
        ("Yes. But no cat.", "yes"),  # only the first sentence counts
        ("no, there isn't", "no"),
        ("", "yes"),
    ],
)
def test_pope_parser(text: str, expected: str) -> None:
    assert parse_yes_no(text) == expected


def test_pope_metrics_hand_worked() -> None:
    preds = {"1": "Yes", "2": "Yes", "3": "No", "4": "No.", "5": "yes"}
    labels = {"1": "yes", "2": "no", "3": "no", "4": "yes", "5": "yes"}
    s = compute_pope_metrics(preds, labels)
    assert s.counts == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}
    assert s.accuracy == 3 / 5 and s.precision == 2 / 3 and s.recall == 2 / 3
    assert s.f1 == pytest.approx(2 / 3) and s.yes_ratio == 3 / 5
    with pytest.raises(DataError, match="not 'yes' or 'no'"):
        compute_pope_metrics({"1": "yes"}, {"1": "maybe"})
