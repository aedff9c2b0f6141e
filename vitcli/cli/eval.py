"""`vitcli eval`: parse flags into an EvalConfig, run evaluation.run.evaluate, render the EvalReport."""

from __future__ import annotations

from typing import Annotated

import typer

from vitcli.cli import output
from vitcli.cli.options import AllowPickle, Device, Dtype, Json, LoadIn, Overwrite
from vitcli.evaluation.report import EvalReport

HELP = """Score a model on a built dataset, or score prediction files, with the official metrics.

Example: vitcli eval --model runs/shapes --data data/shapes --task vqa --json"""


def render_report(report: EvalReport, as_json: bool) -> None:
    for warning in report.warnings:
        output.log(f"warning: {warning}")
    if as_json:
        output.emit_json(report.to_json())
        return
    rows = []
    for key, value in report.metrics.items():
        if isinstance(value, dict):
            rows.extend((f"{key}/{k}", v) for k, v in value.items())
        else:
            rows.append((key, value))
    output.print_table(f"{report.task} metrics ({report.num_scored} scored)", rows, ("metric", "value"))


def eval_command(
    task: Annotated[str, typer.Option("--task", help="caption | vqa | gqa | multiple-choice | pope | text.")] = "vqa",
    model: Annotated[str | None, typer.Option("--model", help="Run folder, local model dir or hub id.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Built dataset folder (with --model).")] = None,
    split: Annotated[str, typer.Option("--split", help="Dataset split to score.")] = "test",
    predictions: Annotated[
        str | None, typer.Option("--predictions", help="Prediction file to score ('-' = stdin).")
    ] = None,
    references: Annotated[
        str | None,
        typer.Option(
            "--references",
            help="Caption: COCO annotations; gqa: questions JSON; multiple-choice: problems.json; pope: labels.",
        ),
    ] = None,
    questions: Annotated[str | None, typer.Option("--questions", help="VQA v2 questions JSON.")] = None,
    annotations: Annotated[str | None, typer.Option("--annotations", help="VQA v2 annotations JSON.")] = None,
    allow_missing: Annotated[bool, typer.Option("--allow-missing", help="Score missing predictions as 0.")] = False,
    require_all: Annotated[
        bool, typer.Option("--require-all", help="Caption: every reference image needs a prediction.")
    ] = False,
    spice: Annotated[bool, typer.Option("--spice", help="Caption: also compute SPICE (needs its jars).")] = False,
    gqa_normalize: Annotated[
        str, typer.Option("--gqa-normalize", help="GQA: official (GQA eval.py as LLaVA runs it) | vqa.")
    ] = "official",
    pid_splits: Annotated[
        str | None, typer.Option("--pid-splits", help="Multiple-choice: ScienceQA pid_splits.json; scores --split.")
    ] = None,
    base: Annotated[str | None, typer.Option("--base", help="Text: the base LM (default: the run's --llm).")] = None,
    text_file: Annotated[str | None, typer.Option("--text-file", help="Text: held-out text for perplexity.")] = None,
    qa_file: Annotated[
        str | None, typer.Option("--qa-file", help='Text: JSONL of {"prompt", "answer"} for exact match.')
    ] = None,
    window: Annotated[int, typer.Option("--window", min=0, help="Text: tokens per window (0 = min(ctx, 512)).")] = 0,
    stride: Annotated[int, typer.Option("--stride", min=0, help="Text: tokens between windows (0 = window/2).")] = 0,
    per_item: Annotated[
        str | None, typer.Option("--per-item", help="Write one JSON line per item with its score.")
    ] = None,
    report_path: Annotated[str | None, typer.Option("--report", help="Write an HTML report here.")] = None,
    max_samples: Annotated[
        int, typer.Option("--max-samples", min=0, help="Score only the first N rows (0 = all).")
    ] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Generation batch size.")] = 32,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 32,
    device: Device = "auto",
    dtype: Dtype = "auto",
    load_in: LoadIn = "auto",
    allow_pickle: AllowPickle = False,
    overwrite: Overwrite = False,
    as_json: Json = False,
) -> None:
    from vitcli.config import EvalConfig, GenerationConfig
    from vitcli.config_checks import check_load_in, validate_generation_config
    from vitcli.evaluation.run import evaluate

    check_load_in(load_in, dtype, device)

    if task == "text":  # language retention against the base LM (cli/eval_text.py)
        from vitcli.cli.eval_text import eval_text

        text = {"base": base, "text_file": text_file, "qa_file": qa_file, "window": window, "stride": stride}
        return eval_text(model, text, max_new_tokens, device, allow_pickle, per_item, overwrite, as_json)
    cfg = EvalConfig(
        task=task,
        model=model,
        data=data,
        split=split,
        predictions=predictions,
        per_item=per_item,
        max_samples=max_samples,
        device=device,
        dtype=dtype,
        generation=GenerationConfig(batch_size=batch_size, max_new_tokens=max_new_tokens),
    )
    validate_generation_config(cfg.generation)
    cfg.references, cfg.questions, cfg.annotations = references, questions, annotations
    cfg.report = report_path
    cfg.allow_missing, cfg.require_all, cfg.spice = allow_missing, require_all, spice
    cfg.gqa_normalize, cfg.pid_splits = gqa_normalize, pid_splits
    cfg.allow_pickle, cfg.overwrite, cfg.load_in = allow_pickle, overwrite, load_in
    output.quiet_libraries()
    with output.progress_bar(f"eval {task}", None) as update:
        report = evaluate(cfg, on_progress=update)
    render_report(report, as_json)
