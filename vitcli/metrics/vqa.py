"""VQA v2 accuracy exactly as the official GT-Vision-Lab/VQA `vqaEval.py` (current version, Python 3).
Owns answer normalisation (quirks kept) and the 10-choose-9 leave-one-out accuracy; file parsing and
coverage checks live in vitcli.evaluation. Pure Python: no torch, no numpy.

Rules, as in the official `VQAEval.evaluate` (each is pinned by a golden test):
  1. prediction and human answers: '\\n' and '\\t' -> ' ', then strip();
  2. only when the (stripped) human answers are not all identical are the humans' answers AND the
     prediction normalised (processPunctuation, then processDigitArticle); otherwise both are compared raw;
  3. for each human answer i: acc_i = min(1, #{j != i : answer_j == prediction} / 3); accuracy = mean acc_i;
  4. overall / per-type = round(100 * sum(accs) / len(accs), 2), per item round(100 * acc, 2).
The official loop compares whole answer dicts (`item != gtAnsDatum`); in VQA v2 every dict has its own
answer_id, so "the others" are exactly the other 9 answers, which is what this module does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vitcli.runtime.errors import DataError

CONTRACTIONS: dict[str, str] = {
    "aint": "ain't",
    "arent": "aren't",
    "cant": "can't",
    "couldve": "could've",
    "couldnt": "couldn't",
    "couldn'tve": "couldn't've",
    "couldnt've": "couldn't've",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "dont": "don't",
    "hadnt": "hadn't",
    "hadnt've": "hadn't've",
    "hadn'tve": "hadn't've",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hed": "he'd",
    "hed've": "he'd've",
    "he'dve": "he'd've",
    "hes": "he's",
    "howd": "how'd",
    "howll": "how'll",
    "hows": "how's",
    "Id've": "I'd've",
    "I'dve": "I'd've",
    "Im": "I'm",
    "Ive": "I've",
    "isnt": "isn't",
    "itd": "it'd",
    "itd've": "it'd've",
    "it'dve": "it'd've",
    "itll": "it'll",
    "let's": "let's",
    "maam": "ma'am",
    "mightnt": "mightn't",
    "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've",
    "mightve": "might've",
    "mustnt": "mustn't",
    "mustve": "must've",
    "neednt": "needn't",
    "notve": "not've",
    "oclock": "o'clock",
    "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at",
    "shant": "shan't",
    "shed've": "she'd've",
    "she'dve": "she'd've",
    "she's": "she's",
    "shouldve": "should've",
    "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd",  # sic: the official map goes this way round
    "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll",
    "somebodys": "somebody's",
    "someoned": "someone'd",
    "someoned've": "someone'd've",
    "someone'dve": "someone'd've",
    "someonell": "someone'll",
    "someones": "someone's",
    "somethingd": "something'd",
    "somethingd've": "something'd've",
    "something'dve": "something'd've",
    "somethingll": "something'll",
    "thats": "that's",
    "thered": "there'd",
    "thered've": "there'd've",
    "there'dve": "there'd've",
    "therere": "there're",
    "theres": "there's",
    "theyd": "they'd",
    "theyd've": "they'd've",
    "they'dve": "they'd've",
    "theyll": "they'll",
    "theyre": "they're",
    "theyve": "they've",
    "twas": "'twas",
    "wasnt": "wasn't",
    "wed've": "we'd've",
    "we'dve": "we'd've",
    "weve": "we've",
    "werent": "weren't",
    "whatll": "what'll",
    "whatre": "what're",
    "whats": "what's",
    "whatve": "what've",
    "whens": "when's",
    "whered": "where'd",
    "wheres": "where's",
    "whereve": "where've",
    "whod": "who'd",
    "whod've": "who'd've",
    "who'dve": "who'd've",
    "wholl": "who'll",
    "whos": "who's",
    "whove": "who've",
    "whyll": "why'll",
    "whyre": "why're",
    "whys": "why's",
    "wont": "won't",
    "wouldve": "would've",
    "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've",
    "yall": "y'all",
    "yall'll": "y'all'll",
    "y'allll": "y'all'll",
    "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've",
    "youd": "you'd",
    "youd've": "you'd've",
    "you'dve": "you'd've",
    "youll": "you'll",
    "youre": "you're",
    "youve": "you've",
}
MANUAL_MAP: dict[str, str] = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})
PUNCT: tuple[str, ...] = (
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
# Official regexes, verbatim. "(?!<=\d)" is a typo'd look-behind: a look-ahead that always passes before
# a '.', so every period not followed by a digit is removed.
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
# The official call is periodStrip.sub("", text, re.UNICODE): re.UNICODE (32) lands in `count`.
PERIOD_STRIP_COUNT = int(re.UNICODE)
_PUNCT_OR_PERIOD = frozenset(PUNCT) | {"."}


def clean_answer(text: str) -> str:
    """The whitespace step applied to every answer before anything else: tabs/newlines -> space, strip."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_punctuation(text: str) -> str:
    """Official processPunctuation: each punctuation mark is deleted when it touches a space anywhere in
    the input or the input holds a digit,digit pattern, else replaced by a space; then periods not
    followed by a digit are removed (at most 32 of them, the official count quirk)."""
    if _PUNCT_OR_PERIOD.isdisjoint(text):
        return text
    out = text
    has_digit_comma = COMMA_STRIP.search(text) is not None
    for p in PUNCT:
        if p not in out:
            continue  # replace() would be a no-op either way
        if has_digit_comma or (p + " " in text or " " + p in text):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    if "." in out:
        out = PERIOD_STRIP.sub("", out, PERIOD_STRIP_COUNT)
    return out


def process_digit_article(text: str) -> str:
    """Official processDigitArticle: lower-case, split on whitespace, number words -> digits, drop
    articles, expand contractions, join with single spaces."""
    words = []
    for word in text.lower().split():
        word = MANUAL_MAP.get(word, word)
        if word not in ARTICLES:
            words.append(CONTRACTIONS.get(word, word))
    return " ".join(words)


def normalize_answer(text: str) -> str:
    """Whitespace clean-up, processPunctuation, processDigitArticle: the form answers are compared in
    when the human answers disagree."""
    return process_digit_article(process_punctuation(clean_answer(text)))


@dataclass
class VqaItem:
    question_id: Any
    prediction: str | None  # None = missing prediction, scored 0
    answers: Sequence[str]  # the human answers (10 in VQA v2)
    answer_type: str | None = None
    question_type: str | None = None


@dataclass
class VqaScores:
    overall: float  # 0-100, rounded to 2 decimals like the official script
    per_answer_type: dict[str, float] = field(default_factory=dict)
    per_question_type: dict[str, float] = field(default_factory=dict)
    per_item: dict[Any, float] = field(default_factory=dict)  # question_id -> accuracy in [0, 1], unrounded

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "perAnswerType": dict(self.per_answer_type),
            "perQuestionType": dict(self.per_question_type),
        }


class _Scorer:
    """Per-call caches, because answers repeat a lot: raw answer -> cleaned / normalised form, human answer
    list -> the strings they are compared in, and (n, matching positions) -> leave-one-out mean.
    Matches are counted with tuple.count instead of the official O(10 x 10) dict comparisons."""

    def __init__(self) -> None:
        self.clean: dict[str, str] = {}
        self.norm: dict[str, str] = {}  # raw text -> normalize_answer(raw)
        self.humans: dict[tuple[str, ...], tuple[bool, tuple[str, ...]]] = {}
        self.loo: dict[tuple[int, tuple[int, ...]], float] = {}

    def cleaned(self, text: str) -> str:
        out = self.clean.get(text)
        if out is None:
            out = self.clean[text] = clean_answer(text)
        return out

    def normalised(self, text: str) -> str:
        out = self.norm.get(text)
        if out is None:
            out = self.norm[text] = process_digit_article(process_punctuation(self.cleaned(text)))
        return out

    def prepare(self, answers: tuple[str, ...]) -> tuple[bool, tuple[str, ...]]:
        """(humans disagree?, the answers as compared: normalised if they disagree, else cleaned)."""
        if not answers:
            raise ValueError("no human answers")
        cleaned = tuple([self.cleaned(a) for a in answers])
        if cleaned.count(cleaned[0]) == len(cleaned):  # == len(set(cleaned)) == 1, the official test
            out = (False, cleaned)
        else:
            out = (True, tuple([self.normalised(a) for a in answers]))
        self.humans[answers] = out
        return out

    def leave_one_out(self, final: tuple[str, ...], pred: str) -> float:
        key = (len(final), tuple([i for i, a in enumerate(final) if a == pred]))
        acc = self.loo.get(key)
        if acc is None:
            n, pos = key
            hits = len(pos)
            # the official float sum, in the official order: a matching human sees hits-1 matching others
            accs = [min(1, float(hits - 1 if i in pos else hits) / 3) for i in range(n)]
            acc = self.loo[key] = float(sum(accs)) / len(accs)
        return acc

    def score(self, prediction: str, answers: Sequence[str]) -> float:
        key = answers if type(answers) is tuple else tuple(answers)
        disagree, final = self.humans.get(key) or self.prepare(key)
        pred = (
            (self.norm.get(prediction) or self.normalised(prediction))
            if disagree
            else (self.clean.get(prediction) or self.cleaned(prediction))
        )
        hits = final.count(pred)
        if hits == 0:
            return 0.0
        if hits >= 4:  # every leave-one-out subset still holds >= 3 matches: exactly 1.0
            return 1.0
        return self.leave_one_out(final, pred)


def score_vqa_answer(prediction: str, answers: Sequence[str]) -> float:
    """Accuracy in [0, 1] of one prediction against its human answers (official rules)."""
    if not answers:
        raise DataError("a VQA question has no human answers", "every question needs its annotators' answers")
    return _Scorer().score(prediction, answers)


def _mean_pct(values: list[float]) -> float:
    return round(100 * float(sum(values)) / len(values), 2)  # the official expression, same order


VqaTuple = tuple  # (question_id, prediction or None, answers, answer_type, question_type)


def compute_vqa_accuracy(items: Iterable[VqaItem | VqaTuple | Mapping[str, Any]]) -> VqaScores:
    """Official VQA v2 accuracy over `items`, in their order. An item is a VqaItem, a mapping with the same
    keys, or a plain tuple (question_id, prediction, answers, answer_type, question_type) - the fast path.
    A prediction of None (allowed missing) scores 0. Per-type groups keep first-seen order, as officially."""
    score = _Scorer().score
    accs: list[float] = []
    per_item: dict[Any, float] = {}
    by_ans: dict[Any, list[float]] = {}
    by_ques: dict[Any, list[float]] = {}
    for item in items:
        if type(item) is tuple:
            qid, pred, answers, atype, qtype = item
        elif isinstance(item, VqaItem):
            qid, pred, answers = item.question_id, item.prediction, item.answers
            atype, qtype = item.answer_type, item.question_type
        else:
            qid, pred, answers = item["question_id"], item["prediction"], item["answers"]
            atype, qtype = item.get("answer_type"), item.get("question_type")
        if not answers:
            raise DataError(f"question {qid!r} has no human answers", "every question needs its annotators' answers")
        acc = 0.0 if pred is None else score(pred, answers)
        accs.append(acc)
        per_item[qid] = acc
        if qtype is not None:
            lst = by_ques.get(qtype)
            if lst is None:
                lst = by_ques[qtype] = []
            lst.append(acc)
        if atype is not None:
            lst = by_ans.get(atype)
            if lst is None:
                lst = by_ans[atype] = []
            lst.append(acc)
    if not accs:
        raise DataError("no VQA questions to score", "check that predictions and annotations overlap")
    return VqaScores(
        overall=_mean_pct(accs),
        per_answer_type={k: _mean_pct(v) for k, v in by_ans.items()},
        per_question_type={k: _mean_pct(v) for k, v in by_ques.items()},
        per_item=per_item,
    )
