"""The `evaluate` metric modules load offline from their local folders and give vitcli's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

evaluate = pytest.importorskip("evaluate")

from vitcli.evaluation.hf_metrics import HUB_METRICS  # noqa: E402
from vitcli.metrics.caption import compute_caption_metrics  # noqa: E402


def test_vqa_accuracy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = evaluate.load(str(HUB_METRICS["vqa_accuracy"]), cache_dir=str(tmp_path))
    out = metric.compute(
        predictions=["two", "Yes", "red"],
        references=[["2", "2", "two"] + ["3"] * 7, ["yes"] * 10, ["blue"] * 10],
        answer_types=["number", "yes/no", "other"],
        question_types=["how many", "is", "what"],
    )
    # "two" vs 3 matching humans after normalisation -> 0.9; "Yes" vs unanimous "yes" is compared raw -> 0
    assert out["per_item"] == [0.9, 0.0, 0.0]
    assert out["overall"] == 30.0 and out["perAnswerType"] == {"number": 90.0, "yes/no": 0.0, "other": 0.0}


@pytest.mark.java
def test_coco_caption_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = evaluate.load(str(HUB_METRICS["coco_caption"]), cache_dir=str(tmp_path))
    preds = ["a dog runs on the grass", "a red car parked on a street"]
    refs = [
        ["a dog running on grass.", "A brown dog runs in a field"],
        ["a red car on the street", "a parked car"],
    ]
    out = metric.compute(predictions=preds, references=refs)
    direct = compute_caption_metrics({"0": preds[0], "1": preds[1]}, {"0": refs[0], "1": refs[1]}).metrics
    assert out == direct and set(out) == {
        "Bleu_1",
        "Bleu_2",
        "Bleu_3",
        "Bleu_4",
        "METEOR",
        "ROUGE_L",
        "CIDEr",
    }
