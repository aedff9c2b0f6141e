"""A deliberately literal re-statement of the official VQA v2 `VQAEval.evaluate` loop (GT-Vision-Lab/VQA,
current version): answer dicts mutated in place, dict comparison for the leave-one-out, O(10 x 10) matching.
Used only as the oracle that vitcli.metrics.vqa must agree with to the last bit."""

from __future__ import annotations

import copy
import re

from vitcli.metrics.vqa import CONTRACTIONS, MANUAL_MAP

_PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
          ">", "<", "@", "`", ",", "?", "!"]
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
        if word not in ["a", "an", "the"]:
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
