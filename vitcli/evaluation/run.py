"""evaluate(cfg) -> EvalReport: predictions from a model on a built dataset (or from files), then metrics.
Scoring itself lives in evaluation/score.py and metrics/ (the same scorers files go through); this module owns
generation, the gold answers a dataset row carries for each task, and provenance."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from vitcli import __version__
from vitcli.config import EvalConfig
from vitcli.evaluation.report import EvalReport
from vitcli.runtime.errors import ConfigError, DataError, UsageError
from vitcli.runtime.io import check_output_free, write_jsonl

TASKS_FROM_MODEL = ("caption", "vqa", "pope", "multiple-choice", "gqa")


def evaluate(cfg: EvalConfig, on_progress: Any = None) -> EvalReport:
    for out in (cfg.per_item, cfg.report):  # refuse before the expensive part, not after it
        if out and out != "-":
            check_output_free(Path(out), cfg.overwrite, "output path")
    if cfg.pid_splits and (cfg.task != "multiple-choice" or cfg.model):
        raise UsageError(
            "--pid-splits selects ScienceQA problems when scoring a multiple-choice --predictions file",
            "drop --pid-splits, or pass --task multiple-choice --predictions FILE --references problems.json",
        )
    if cfg.task == "gqa":
        from vitcli.evaluation.score import check_gqa_normalize

        check_gqa_normalize(cfg.gqa_normalize)
    thumbnails: dict[str, bytes] | None = {} if cfg.report else None
    if cfg.model is None:
        from vitcli.evaluation.score import score_files

        report = score_files(cfg)  # prediction files carry no images: the HTML report has no thumbnails
    else:
        report = evaluate_model(cfg, on_progress, thumbnails)
    if cfg.per_item:
        write_jsonl(cfg.per_item, report.per_item)
    if cfg.report:
        from vitcli.evaluation.html_report import write_html_report

        write_html_report(cfg.report, report, thumbnails)
    return report


def evaluate_model(cfg: EvalConfig, on_progress: Any = None, thumbnails: dict[str, bytes] | None = None) -> EvalReport:
    """Generate answers for every row of `cfg.task` in the split, then score them like a prediction file.
    `thumbnails`, when given, is filled with id -> small image bytes for the rows the HTML report shows."""
    from vitcli.data.build import load_built_dataset
    from vitcli.data.records import check_single_image, prompt_of, undecoded_images
    from vitcli.evaluation.score import score_captions, score_vqa
    from vitcli.inference.generate import generate
    from vitcli.modeling.load import load_for_inference
    from vitcli.runtime.device import resolve_device, resolve_dtype
    from vitcli.runtime.images import open_image

    if cfg.task not in TASKS_FROM_MODEL:
        raise ConfigError(
            f"--task {cfg.task} cannot be generated from a built dataset yet",
            f"use one of: {', '.join(TASKS_FROM_MODEL)}, or score a --predictions file",
        )
    if not cfg.data:
        raise ConfigError("--model needs --data", "pass the dataset folder to evaluate on")
    data = load_built_dataset(cfg.data)
    if cfg.split not in data:
        raise DataError(f"dataset '{cfg.data}' has no split '{cfg.split}'", f"choose one of: {', '.join(data)}")
    rows = data[cfg.split].filter(lambda t: t == cfg.task, input_columns="task")
    if cfg.max_samples:
        rows = rows.select(range(min(cfg.max_samples, len(rows))))
    if len(rows) == 0:
        raise DataError(f"split '{cfg.split}' of '{cfg.data}' has no {cfg.task} rows", "pick another --task or --split")
    check_single_image(rows)  # before loading the model
    rows = undecoded_images(rows)

    device = resolve_device(cfg.device)
    model, processor = load_for_inference(
        cfg.model, device, resolve_dtype(cfg.dtype, device), allow_pickle=cfg.allow_pickle, load_in=cfg.load_in
    )
    meta = rows.remove_columns("images")
    prompts = [prompt_of(r) for r in meta]
    preds: list[str] = []
    for start in range(0, len(rows), cfg.generation.batch_size):
        batch = rows[start : start + cfg.generation.batch_size]
        images = [
            open_image(cells[0] if cells else None, row_id)
            for cells, row_id in zip(batch["images"], batch["id"], strict=True)
        ]
        out = generate(
            model,
            processor,
            images,
            prompts[start : start + len(images)],
            cfg.generation,
            tasks=[cfg.task] * len(images),
        )
        preds.extend(p.text for p in out)
        if on_progress:
            on_progress(len(images))

    ids = meta["id"]
    predictions = dict(zip(ids, preds, strict=False))
    if cfg.task == "caption":
        report = score_captions(predictions, dict(zip(ids, meta["references"], strict=False)))
    elif cfg.task == "vqa":
        items = {
            r["id"]: {
                "answers": r["answers"],
                "answer_type": r["answer_type"],
                "question_type": r["question_type"],
                "question": p.replace("<image>", "").strip(),
            }
            for r, p in zip(meta, prompts, strict=True)
        }
        report = score_vqa(predictions, items)
    else:
        report = score_single_answer(cfg, predictions, list(meta), prompts)
    report.provenance.update(model_provenance(cfg, data[cfg.split]))
    if thumbnails is not None:
        thumbnails.update(collect_thumbnails(rows, ids, report))
    return report


def gold_answer(row: dict[str, Any]) -> str:
    """A POPE / multiple-choice / GQA row's key: its first stored answer, else its first assistant turn."""
    from vitcli.data.records import target_of

    return row["answers"][0] if row["answers"] else target_of(row)


def score_single_answer(cfg: EvalConfig, predictions: dict[str, str], rows: list[dict], prompts: list[str]):
    """Score generated answers of pope / multiple-choice / gqa rows with the scorers prediction files go through:
    POPE's parser and metrics (+ one set per question_type, e.g. the synthetic world's pope-random/popular/
    adversarial), LLaVA's ScienceQA letter parser (options read back from the prompt), official GQA exact match
    (question_type as the structural type)."""
    from vitcli.data.templates import parse_choices
    from vitcli.evaluation.score import score_gqa, score_multiple_choice, score_pope
    from vitcli.metrics.pope import compute_pope_metrics

    gold = {r["id"]: gold_answer(r) for r in rows}
    if cfg.task == "pope":
        report = score_pope(predictions, gold)
        kinds = {r["id"]: r["question_type"] for r in rows if r["question_type"]}
        for kind in sorted(set(kinds.values())) if len(set(kinds.values())) > 1 else []:
            ids = [k for k, v in kinds.items() if v == kind]
            sub = compute_pope_metrics({k: predictions[k] for k in ids}, {k: gold[k] for k in ids}).to_dict()
            report.metrics[kind] = {m: sub[m] for m in ("accuracy", "precision", "recall", "f1", "yes_ratio")}
    elif cfg.task == "multiple-choice":
        keys = {
            r["id"]: {"answer": gold[r["id"]], "choices": parse_choices(p)} for r, p in zip(rows, prompts, strict=True)
        }
        report = score_multiple_choice(predictions, keys)
    else:
        types = {r["id"]: {"structural": r["question_type"]} for r in rows if r["question_type"]}
        report = score_gqa(predictions, gold, normalize=cfg.gqa_normalize, types=types)
    questions = {r["id"]: p.replace("<image>", "").strip() for r, p in zip(rows, prompts, strict=True)}
    for item in report.per_item:
        item["question"] = questions.get(item["id"])
    return report


def collect_thumbnails(rows: Any, ids: list[str], report: EvalReport) -> dict[str, bytes]:
    """Thumbnails for only the rows the HTML report shows (worst first, capped), decoded one row at a time."""
    from vitcli.evaluation.html_report import make_thumbnail, select_rows
    from vitcli.runtime.images import open_image

    index = {id_: i for i, id_ in enumerate(ids)}
    wanted = [index[r["id"]] for r in select_rows(report) if r["id"] in index]
    shown = rows.select_columns(["images"]).select(wanted)
    return {
        ids[i]: make_thumbnail(open_image(r["images"][0])) for i, r in zip(wanted, shown, strict=True) if r["images"]
    }


def model_provenance(cfg: EvalConfig, split: Any) -> dict[str, Any]:
    """What produced these numbers: model path and weights hash, decoding, dataset fingerprint."""
    import dataclasses

    import transformers

    return {
        "vitcli_version": __version__,
        "transformers_version": transformers.__version__,
        "model": cfg.model,
        "weights_sha256": weights_hash(cfg.model),
        "data": cfg.data,
        "split": cfg.split,
        "dataset_fingerprint": getattr(split, "_fingerprint", None),
        "generation": dataclasses.asdict(cfg.generation),
        "prompt_template": "processor chat template",
    }


def weights_hash(model: str | None) -> str | None:
    """sha256 over the model's safetensors files (None for hub ids)."""
    if not model or not Path(model).is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(Path(model).glob("*.safetensors")):
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
