"""The real-LLM recipe (examples/real_llm.sh) run end to end through the CLI, one JSON line per README figure:

  vqa          held-out VQA accuracy (test split) after each stage that is scored
  cider        CIDEr of the test captions
  perplexity   base / tuned / ratio on examples/retention/heldout.txt (eval --task text)
  facts        exact match of base / tuned on examples/retention/facts.jsonl, and how many replies mention the
               answer as a word (base, tuned, kept = known to the base and still to the tuned model)
  train        per stage: optimizer steps, packed samples/s, wall seconds and the CPU seconds the stage used
  minutes      end to end (build + train + every eval), wall, and CPU minutes / cores = minutes on free cores

    python benchmarks/real_llm.py --gguf .test-cache/SmolLM2-135M-Instruct.Q4_1.gguf [--scenes 400]
           [--align-epochs 1.5] [--instruct-epochs 1.5] [--no-instruct] [--score-align] [--vision-lr 0]
           [--views 0] [--feature-layer -4] [--projector-init default] [--eval-samples 0] [--no-retention] [--work DIR]

The README's rows: no flags (the example's recipe: tower frozen, tokens from stage 6, align 1.5, LoRA 1.5);
--instruct-epochs 1 and 2 (the recipe's neighbours); --feature-layer -1 --instruct-epochs 1 (tokens from the
ImageNet head); --feature-layer -1 --instruct-epochs 1 --vision-lr 3e-4 --score-align (the tower trained, both
stages scored); --feature-layer -1 --align-epochs 0.75 --no-instruct --no-retention (the tower frozen, align only).
The contrastive table: --feature-layer -1 --vision-lr 3e-4 --no-instruct [--views 0.1] (200 test rows scored).

On a CPU shared with other jobs wall time is inflated; the CPU seconds of the child processes are not (much), so
`minutes` also reports cpu_minutes / --cores as the time the same work takes when the cores are free."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RETENTION = HERE.parent / "examples" / "retention"
PACK = ["--set", "pack_turns=5"]
SIZE = ["--set", "model.vision_image_size=96"]  # a 3x3 feature map: one token per grid cell
LORA_TARGETS = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def vitcli(*args: str) -> tuple[dict[str, Any], float, float]:
    """Run `python -m vitcli ARGS --json`; (last JSON object on stdout, wall s, CPU s of the child)."""
    cpu0, t0 = child_cpu(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "vitcli", *args, "--json"], capture_output=True, text=True, env=os.environ.copy()
    )
    wall, cpu = time.perf_counter() - t0, child_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"vitcli {' '.join(args[:2])} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), wall, cpu


def emit(figure: str, **values: Any) -> None:
    print(json.dumps({"figure": figure, **values}), flush=True)


def train_stage(name: str, args: list[str], spent: dict[str, float]) -> None:
    result, wall, cpu = vitcli("train", *args)
    spent["wall"] += wall
    spent["cpu"] += cpu
    emit(
        "train",
        stage=name,
        steps=result.get("global_step"),
        epochs=result.get("epochs"),
        samples_per_s=result.get("samples_per_second"),
        train_seconds=result.get("seconds"),
        final_loss=result.get("final_loss"),
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
    )


def tower_flags(lr: float) -> list[str]:
    """The tower trains at `lr`, or stays frozen (as in LLaVA) with 0."""
    return ["--unfreeze-vision", "--set", f"vision_learning_rate={lr}"] if lr > 0 else []


def views_flags(weight: float) -> list[str]:
    return ["--contrastive", "views", "--contrastive-weight", str(weight)] if weight > 0 else []


def score(run: Path, data: Path, stage: str, eval_samples: int, spent: dict[str, float]) -> None:
    limit = ["--max-samples", str(eval_samples)] if eval_samples else []
    vqa, wall, cpu = vitcli(
        "eval", "--model", str(run), "--data", str(data), "--task", "vqa", "--max-new-tokens", "8", *limit
    )
    spent["wall"] += wall
    spent["cpu"] += cpu
    emit(
        "vqa",
        stage=stage,
        accuracy=vqa["metrics"].get("overall"),
        scored=vqa.get("num_scored"),
        per_type=vqa["metrics"].get("perAnswerType"),
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
    )
    cap, wall, cpu = vitcli("eval", "--model", str(run), "--data", str(data), "--task", "caption", *limit)
    spent["wall"] += wall
    spent["cpu"] += cpu
    emit(
        "cider",
        stage=stage,
        cider=cap["metrics"].get("CIDEr"),
        scored=cap.get("num_scored"),
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
    )


def mentions(reply: str, answer: str) -> bool:
    """The answer as a whole word (or words) anywhere in the reply, case-insensitive: SmolLM2-Instruct answers
    "The capital of France is Paris." however the prompt asks, which exact match (and starts-with) scores 0."""
    return re.search(r"(?<![\w])" + re.escape(answer.lower()) + r"(?![\w])", reply.lower()) is not None


def retention(run: Path, gguf: str, stage: str, spent: dict[str, float]) -> None:
    items = run.parent / f"text_items_{stage}.jsonl"
    args = ["--model", str(run), "--base", gguf, "--text-file", str(RETENTION / "heldout.txt")]
    args += ["--qa-file", str(RETENTION / "facts.jsonl"), "--per-item", str(items), "--overwrite"]
    text, wall, cpu = vitcli("eval", "--task", "text", *args)
    spent["wall"] += wall
    spent["cpu"] += cpu
    m = text["metrics"]
    emit(
        "perplexity",
        stage=stage,
        base=round(m["perplexity"]["base"], 3),
        tuned=round(m["perplexity"]["tuned"], 3),
        ratio=round(m["perplexity"]["ratio"], 4),
        tokens=m.get("tokens_scored", {}).get("base"),
    )
    rows = [json.loads(line) for line in items.read_text().splitlines() if line.strip()]
    base_ok = [mentions(r["base"], r["answer"]) for r in rows]
    tuned_ok = [mentions(r["tuned"], r["answer"]) for r in rows]
    emit(
        "facts",
        stage=stage,
        exact_base=m["exact_match"]["base"],
        exact_tuned=m["exact_match"]["tuned"],
        mentioned_base=sum(base_ok),
        mentioned_tuned=sum(tuned_ok),
        kept=sum(b and t for b, t in zip(base_ok, tuned_ok, strict=True)),
        of=len(rows),
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", default=".test-cache/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--work", default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--scenes", type=int, default=400, help="train scenes (5 rows each)")
    ap.add_argument("--align-epochs", type=float, default=1.5)
    ap.add_argument("--instruct-epochs", type=float, default=1.5)
    ap.add_argument("--no-instruct", action="store_true", help="stop after align (the LM is untouched)")
    ap.add_argument("--score-align", action="store_true", help="also score the align run (a frontier point)")
    ap.add_argument("--eval-samples", type=int, default=0, help="score the first N test rows per task (0 = all)")
    ap.add_argument("--align-eval-samples", type=int, default=200, help="the same for the align run's score")
    ap.add_argument("--instruct-lr", type=float, default=2e-4)
    ap.add_argument("--vision", default="efficientnet-lite0", help="the tower (name, .pth or converted folder)")
    ap.add_argument("--vision-lr", type=float, default=0.0, help="> 0: the pretrained tower trains at this rate")
    ap.add_argument("--feature-layer", type=int, default=-4, help="the tower's feature map the image tokens come from")
    ap.add_argument("--projector-init", default="default", help="default | standardize (vitcli train's key)")
    ap.add_argument("--align-lr", type=float, default=1e-3, help="the projector's learning rate (both stages)")
    ap.add_argument("--no-retention", action="store_true", help="skip the text-retention evaluation")
    ap.add_argument("--views", type=float, default=0.0, help="> 0: add this x NT-Xent over two views (every stage)")
    ap.add_argument("--cores", type=int, default=2, help="cores the CPU minutes are divided by")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    work = Path(args.work or tempfile.mkdtemp(prefix="vitcli-real-llm-"))
    data, align, instruct = work / "data", work / "align", work / "instruct"
    spent = {"wall": 0.0, "cpu": 0.0}

    _, wall, cpu = vitcli(
        "build-dataset", "synthetic", "--out", str(data), "--num-train", str(args.scenes), "--overwrite"
    )
    spent["wall"] += wall
    spent["cpu"] += cpu
    train_stage(
        "align",
        [
            "--llm",
            args.gguf,
            "--vision",
            args.vision,
            "--data",
            str(data),
            "--output",
            str(align),
            "--stage",
            "align",
            *tower_flags(args.vision_lr),
            "--epochs",
            str(args.align_epochs),
            "--learning-rate",
            str(args.align_lr),
            *SIZE,
            "--set",
            f"model.vision_feature_layer={args.feature_layer}",
            "--set",
            f"projector_init={args.projector_init}",
            *PACK,
            *views_flags(args.views),
            "--overwrite",
        ],
        spent,
    )
    final = align
    if args.score_align or args.no_instruct:
        score(align, data, "align", args.align_eval_samples, spent)
        if not (args.no_instruct or args.no_retention):  # the align point: frozen LM, measured anyway
            retention(align, args.gguf, "align", spent)
    if not args.no_instruct:
        train_stage(
            "instruct",
            [
                "--model",
                str(align),
                "--data",
                str(data),
                "--output",
                str(instruct),
                "--stage",
                "instruct",
                *tower_flags(args.vision_lr),
                "--lora",
                "--lora-r",
                "16",
                "--lora-alpha",
                "32",
                "--set",
                f"lora_target_modules={LORA_TARGETS}",
                "--epochs",
                str(args.instruct_epochs),
                "--learning-rate",
                str(args.instruct_lr),
                "--set",
                f"projector_learning_rate={args.align_lr}",
                *PACK,  # the size travels in the align run's processor
                *views_flags(args.views),
                "--overwrite",
            ],
            spent,
        )
        final = instruct
        score(instruct, data, "instruct", args.eval_samples, spent)
    if not args.no_retention:
        retention(final, args.gguf, final.name, spent)
    emit(
        "minutes",
        wall=round(spent["wall"] / 60, 2),
        cpu=round(spent["cpu"] / 60, 2),
        free_cores=round(spent["cpu"] / 60 / args.cores, 2),
        cores=args.cores,
        scenes=args.scenes,
        align_epochs=args.align_epochs,
        instruct_epochs=0 if args.no_instruct else args.instruct_epochs,
        views=args.views,
        work=str(work),
    )


if __name__ == "__main__":
    main()
