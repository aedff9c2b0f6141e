"""A deliberately literal re-statement of the official VQA v2 `VQAEval.evaluate` loop (GT-Vision-Lab/VQA,
current version): answer dicts mutated in place, dict comparison for the leave-one-out, O(10 x 10) matching.
Used only as the oracle that vitcli.metrics.vqa must agree with to the last bit."""

from __future__ import annotations

import copy
import re

# The official tables, written out here (not imported from vitcli) so that a wrong entry in vitcli's copy is
# caught. Same entries, same order as VQAEval.__init__ in PythonEvaluationTools/vqaEvaluation/vqaEval.py.
CONTRACTIONS = {  # self.contractions
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
    "somebody'd": "somebodyd",
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
MANUAL_MAP = {
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
ARTICLES = ["a", "an", "the"]
_PUNCT = [  # self.punct, then self.periodStrip and self.commaStrip
    ";",
    r"/",
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
]
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA = re.compile(r"(\d)(\,)(\d)")


def process_punctuation(in_text):
    out_text = in_text
    for p in _PUNCT:
        if (p + " " in in_text or " " + p in in_text) or (re.search(_COMMA, in_text) is not None):
            out_text = out_text.replace(p, "")
        else:
            out_text = out_text.replace(p, " ")
    return _PERIOD.sub("", out_text, re.UNICODE)


def process_digit_article(in_text):
    manual = dict(MANUAL_MAP)
    out = []
    for word in in_text.lower().split():
        word = manual.setdefault(word, word)
        if word not in ARTICLES:
            out.append(word)
    for i, word in enumerate(out):
        if word in CONTRACTIONS:
            out[i] = CONTRACTIONS[word]
    return " ".join(out)


def official_evaluate(annotations, results, n=2):
    """annotations: official-format dicts (question_id, answers[{answer, answer_id}], answer_type,
    question_type); results: {question_id: answer}. Returns (accuracy dict, evalQA unrounded)."""
    gts = {a["question_id"]: copy.deepcopy(a) for a in annotations}
    acc_qa, acc_ques, acc_ans, per_q = [], {}, {}, {}
    for qid in [a["question_id"] for a in annotations]:
        for ans in gts[qid]["answers"]:
            ans["answer"] = ans["answer"].replace("\n", " ").replace("\t", " ").strip()
        res_ans = results[qid].replace("\n", " ").replace("\t", " ").strip()
        gt_acc = []
        gt_answers = [ans["answer"] for ans in gts[qid]["answers"]]
        if len(set(gt_answers)) > 1:
            for ans in gts[qid]["answers"]:
                ans["answer"] = process_punctuation(ans["answer"])
                ans["answer"] = process_digit_article(ans["answer"])
            res_ans = process_punctuation(res_ans)
            res_ans = process_digit_article(res_ans)
        for datum in gts[qid]["answers"]:
            others = [item for item in gts[qid]["answers"] if item != datum]
            matching = [item for item in others if item["answer"] == res_ans]
            gt_acc.append(min(1, float(len(matching)) / 3))
        avg = float(sum(gt_acc)) / len(gt_acc)
        acc_qa.append(avg)
        acc_ques.setdefault(gts[qid]["question_type"], []).append(avg)
        acc_ans.setdefault(gts[qid]["answer_type"], []).append(avg)
        per_q[qid] = avg
    accuracy = {
        "overall": round(100 * float(sum(acc_qa)) / len(acc_qa), n),
        "perQuestionType": {k: round(100 * float(sum(v)) / len(v), n) for k, v in acc_ques.items()},
        "perAnswerType": {k: round(100 * float(sum(v)) / len(v), n) for k, v in acc_ans.items()},
    }
    return accuracy, per_q
