"""COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr) as an `evaluate` metric, backed by
vitcli.metrics.caption (pycocoevalcap with its Java PTB tokenizer). Load offline with evaluate.load(path)."""

import datasets
import evaluate

from vitcli.metrics.caption import compute_caption_metrics

_DESCRIPTION = """COCO caption evaluation as the official COCOEvalCap demo computes it: PTB tokenisation
(Java), then BLEU-1..4, METEOR, ROUGE-L and CIDEr(-D). Needs a Java runtime."""
_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated captions (str), one per image.
    references: list of lists of reference captions.
    spice: also compute SPICE (needs its Stanford CoreNLP jars).
Returns:
    Bleu_1, Bleu_2, Bleu_3, Bleu_4, METEOR, ROUGE_L, CIDEr (and SPICE): corpus scores, as pycocoevalcap.
"""
_CITATION = """@article{chen2015microsoft, title={Microsoft COCO Captions: Data Collection and Evaluation
Server}, author={Chen, Xinlei and others}, journal={arXiv:1504.00325}, year={2015}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CocoCaption(evaluate.Metric):
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

    def _compute(self, predictions, references, spice=False):
        preds = {str(i): p for i, p in enumerate(predictions)}
        refs = {str(i): list(r) for i, r in enumerate(references)}
        return dict(compute_caption_metrics(preds, refs, spice=spice).metrics)
