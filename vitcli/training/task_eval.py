"""Periodic evaluation during training: generate answers for a few validation rows per task and score them:
VQA accuracy for vqa rows (the scorer `vitcli eval` uses), CIDEr for caption rows (pycocoevalcap's PTB tokenizer
+ Cider, as `vitcli eval`, but without METEOR/BLEU/ROUGE: METEOR's JVM alone costs ~10 s per evaluation)."""

from __future__ import annotations

from typing import Any

from vitcli.config import GenerationConfig


class TaskEval:
    """Callable(model) -> {"eval_vqa_accuracy": ..., "eval_cider": ...} on up to `max_samples` rows per task.
    Generation takes one image per question, so rows with several images are not asked; `multi_image_rows`
    counts them (per task, among all validation rows)."""

    def __init__(self, rows: Any, processor: Any, max_samples: int, batch_size: int) -> None:
        from vitcli.data.records import image_counts, undecoded_images

        self.processor = processor
        self.gen = GenerationConfig(max_new_tokens=16, batch_size=batch_size)
        self.by_task = {}
        self.multi_image_rows: dict[str, int] = {}
        rows = undecoded_images(rows)
        for task in ("vqa", "caption"):
            subset = rows.filter(lambda t, task=task: t == task, input_columns="task")
            single = [i for i, n in enumerate(image_counts(subset)) if n <= 1]
            if len(single) < len(subset):
                self.multi_image_rows[task] = len(subset) - len(single)
                subset = subset.select(single)
            if len(subset):
                self.by_task[task] = subset.select(range(min(max_samples, len(subset))))

    def __bool__(self) -> bool:
        return bool(self.by_task)

    def __call__(self, model: Any) -> dict[str, float]:
        import torch

        from vitcli.data.records import prompt_of
        from vitcli.evaluation.score import score_vqa
        from vitcli.inference.generate import generate
        from vitcli.runtime.images import open_image

        was_training = model.training
        model.eval()
        metrics: dict[str, float] = {}
        try:
            with torch.no_grad():
                for task, rows in self.by_task.items():
                    meta = rows.remove_columns("images")
                    images = [
                        open_image(cells[0] if cells else None, row_id)
                        for cells, row_id in zip(rows["images"], meta["id"], strict=True)
                    ]
                    preds = generate(
                        model,
                        self.processor,
                        images,
                        [prompt_of(r) for r in meta],
                        self.gen,
                        tasks=[task] * len(images),
                    )
                    answers = dict(zip(meta["id"], (p.text for p in preds), strict=True))
                    if task == "vqa":
                        items = {
                            r["id"]: {
                                "answers": r["answers"],
                                "answer_type": r["answer_type"],
                                "question_type": r["question_type"],
                            }
                            for r in meta
                        }
                        metrics["eval_vqa_accuracy"] = float(score_vqa(answers, items).metrics["overall"])
                    else:
                        metrics["eval_cider"] = cider(answers, {r["id"]: r["references"] for r in meta})
        finally:
            model.train(was_training)
        return metrics


def cider(predictions: dict[str, str], references: dict[str, list[str]]) -> float:
    """Corpus CIDEr of the validation captions (empty predictions score as empty captions)."""
    from vitcli.metrics.caption import corpus_cider

    return corpus_cider({k: v or "" for k, v in predictions.items()}, references)
