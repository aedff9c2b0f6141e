"""VQA v2 accuracy (official GT-Vision-Lab/VQA rules) as an `evaluate` metric, backed by vitcli.metrics.vqa.
Load offline with evaluate.load(path_to_this_folder)."""

import datasets
import evaluate

from vitcli.metrics.vqa import VqaItem, compute_vqa_accuracy

_DESCRIPTION = """Official VQA v2 accuracy: min(1, #humans agreeing / 3) averaged over the 10 leave-one-out
subsets of annotators, answers normalised only when the annotators disagree (vqaEval.py, quirks kept)."""
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted answers (str).
    references: list of lists of human answers (10 per question for VQA v2).
    answer_types: optional list of answer types ("yes/no", "number", "other") for perAnswerType.
    question_types: optional list of question types for perQuestionType.
Returns:
    overall (0-100, 2 decimals), perAnswerType, perQuestionType, per_item (accuracies in [0, 1]).
Example:
    >>> metric = evaluate.load("vitcli/evaluation/hf_metrics/vqa_accuracy")
    >>> metric.compute(predictions=["2"], references=[["2", "2", "two"] + ["3"] * 7])["overall"]
    90.0
"""
_CITATION = """@inproceedings{goyal2017making, title={Making the V in VQA Matter}, author={Goyal, Yash and
Khot, Tejas and Summers-Stay, Douglas and Batra, Dhruv and Parikh, Devi}, booktitle={CVPR}, year={2017}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class VqaAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, answer_types=None, question_types=None):
        n = len(predictions)
        answer_types = answer_types or [None] * n
        question_types = question_types or [None] * n
        items = [
            VqaItem(i, p, list(r), a, q)
            for i, (p, r, a, q) in enumerate(zip(predictions, references, answer_types, question_types, strict=True))
        ]
        scores = compute_vqa_accuracy(items)
        return {**scores.to_dict(), "per_item": [scores.per_item[i] for i in range(n)]}
