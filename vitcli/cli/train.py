"""`vitcli train`: parse flags into a TrainConfig, run training.run.train, render the TrainResult."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from vitcli.cli import output
from vitcli.cli.options import ConfigFile, Json, Overwrite, Seed, Sets

HELP = """Train a vision-language model on a built dataset.

Example: vitcli train --data data/shapes --output runs/shapes --preset tiny"""


def progress_callback() -> Any:
    """A rich progress bar on stderr with loss, rate and ETA (silent when stderr is not a terminal). Built on
    demand: importing transformers at CLI start-up would slow every command, --help included."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def __init__(self) -> None:
            self._ctx: Any = None
            self._update: Any = None
            self._loss = float("nan")
            self._start = 0.0

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            if state.is_world_process_zero:
                self._ctx = output.progress_bar("training", state.max_steps)
                self._update = self._ctx.__enter__()
                self._start = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if logs and "loss" in logs:
                self._loss = float(logs["loss"])

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self._update:
                rate = state.global_step / max(time.perf_counter() - self._start, 1e-9)
                self._update(1, info=f"loss {self._loss:.4f}  {rate:.2f} step/s")

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self._ctx:
                self._ctx.__exit__(None, None, None)
                self._ctx = self._update = None

    return ProgressCallback()


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _notify(message: str) -> None:
    """Status lines from train() (memory estimate, resume, skipped samples): stderr, main process only."""
    if _is_main_process():
        output.log(message)


def train_command(
    data: Annotated[str | None, typer.Option("--data", help="A dataset folder from `vitcli build-dataset`.")] = None,
    output_dir: Annotated[
        str | None, typer.Option("--output", help="Run folder: final model, metrics.jsonl, config.")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Recipe preset: tiny | pretrained | test (default: pretrained with --model/--llm/--vision, "
            "else tiny).",
        ),
    ] = None,
    stage: Annotated[
        str | None, typer.Option("--stage", help="align (projector) | instruct (projector+LM) | full.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after N optimizer steps (overrides --epochs).")
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the train split.")] = None,
    per_device_batch_size: Annotated[int | None, typer.Option("--per-device-batch-size", min=1)] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate")] = None,
    gradient_accumulation_steps: Annotated[
        int | None, typer.Option("--gradient-accumulation-steps", min=1, help="Micro-batches per optimizer step.")
    ] = None,
    weight_decay: Annotated[float | None, typer.Option("--weight-decay")] = None,
    max_length: Annotated[int | None, typer.Option("--max-length", help="Truncate samples to N tokens.")] = None,
    save_every_steps: Annotated[
        int | None,
        typer.Option(
            "--save-every-steps", help="Checkpoint every N steps into RUN/checkpoints (Ctrl-C/SIGTERM always save)."
        ),
    ] = None,
    keep_last_checkpoints: Annotated[
        int | None, typer.Option("--keep-last-checkpoints", help="Keep only the newest K checkpoints (0 = all).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue --output from its newest checkpoint (weights, optimizer, scheduler, RNG, "
            "data position); pass the original flags.",
        ),
    ] = False,
    resume_from: Annotated[
        str | None, typer.Option("--resume-from", help="Continue from this checkpoint folder.")
    ] = None,
    eval_every_steps: Annotated[
        int | None, typer.Option("--eval-every-steps", help="Validation loss + VQA accuracy / CIDEr every N steps.")
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing", help="Recompute activations to save memory."
        ),
    ] = None,
    group_by_length: Annotated[
        bool | None, typer.Option("--group-by-length/--no-group-by-length", help="Batch samples of similar length.")
    ] = None,
    dataloader_workers: Annotated[
        int | None,
        typer.Option(
            "--dataloader-workers",
            help="Processes that read, tokenise and decode samples (default: one per spare core, at most 8; 0 = none).",
        ),
    ] = None,
    contrastive_weight: Annotated[
        float | None,
        typer.Option(
            "--contrastive-weight", help="Add W x image-text InfoNCE (temperature: --set contrastive_temperature=T)."
        ),
    ] = None,
    contrastive: Annotated[
        str | None,
        typer.Option(
            "--contrastive",
            help="With --contrastive-weight: text (image-text InfoNCE) | views (NT-Xent over two views of each image).",
        ),
    ] = None,
    skip_bad_samples: Annotated[
        bool,
        typer.Option(
            "--skip-bad-samples", help="Drop (and count) samples with empty labels or image tokens cut by --max-length."
        ),
    ] = False,
    deepspeed: Annotated[str | None, typer.Option("--deepspeed", help="DeepSpeed JSON config (see examples/).")] = None,
    vision: Annotated[
        str | None,
        typer.Option(
            "--vision",
            help="Pretrained vision tower: hub id or dir (CLIP, SigLIP, ViT, DINOv2), or efficientnet-lite0 "
            "(name, .pth or converted dir).",
        ),
    ] = None,
    llm: Annotated[str | None, typer.Option("--llm", help="Pretrained causal LM: hub id, dir or .gguf file.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Continue from an existing VLM (run dir, llava-hf/*, image-text-to-text dir)."),
    ] = None,
    arch: Annotated[str | None, typer.Option("--arch", help="llava | encoder-decoder.")] = None,
    projector: Annotated[str | None, typer.Option("--projector", help="linear | mlp2x_gelu.")] = None,
    unfreeze_vision: Annotated[bool, typer.Option("--unfreeze-vision", help="Also train the vision tower.")] = False,
    lora: Annotated[bool, typer.Option("--lora", help="LoRA adapters on the LM, merged on export.")] = False,
    lora_r: Annotated[int | None, typer.Option("--lora-r", min=1)] = None,
    lora_alpha: Annotated[int | None, typer.Option("--lora-alpha", min=1)] = None,
    seed: Seed = None,
    device: Annotated[
        str | None,
        typer.Option(  # None, not "auto": a --set or --config device must not be overridden
            "--device", help="auto | cpu | cuda | cuda:N | mps (default: auto)."
        ),
    ] = None,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="auto (bf16 on CUDA, else fp32) | bf16 | fp16 | fp32 (default: auto).")
    ] = None,
    load_in: Annotated[
        str | None,
        typer.Option(
            "--load-in",
            help="Weight storage: auto (bf16 on CUDA, else fp32) | fp32 | bf16 | fp16 | 8bit | 4bit "
            "(bitsandbytes on CUDA, with --lora: QLoRA).",
        ),
    ] = None,
    config: ConfigFile = None,
    sets: Sets = None,
    overwrite: Overwrite = False,
    show_samples: Annotated[
        int | None,
        typer.Option(
            "--show-samples",
            min=1,
            help="Print N training samples as the model sees them (trained tokens in [[ ]], "
            "token counts) and exit without training.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    from vitcli.config import build_train_config
    from vitcli.runtime.errors import ConfigError, UsageError
    from vitcli.training.run import train

    flags = {
        "data": data,
        "output": output_dir,
        "stage": stage,
        "max_steps": max_steps,
        "epochs": epochs,
        "per_device_batch_size": per_device_batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "device": device,
        "dtype": dtype,
        "load_in": load_in,
        "overwrite": overwrite or None,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "weight_decay": weight_decay,
        "max_length": max_length,
        "save_every_steps": save_every_steps,
        "keep_last_checkpoints": keep_last_checkpoints,
        "resume": resume or None,
        "resume_from": resume_from,
        "eval_every_steps": eval_every_steps,
        "gradient_checkpointing": gradient_checkpointing,
        "group_by_length": group_by_length,
        "dataloader_workers": dataloader_workers,
        "contrastive_weight": contrastive_weight,
        "contrastive": contrastive,
        "skip_bad_samples": skip_bad_samples or None,
        "deepspeed": deepspeed,
        "model.vision": vision,
        "model.llm": llm,
        "model.model": model,
        "model.arch": arch,
        "model.projector": projector,
        "unfreeze_vision": unfreeze_vision or None,
        "lora": lora or None,
        "lora_r": lora_r,
        "lora_alpha": lora_alpha,
    }
    try:
        cfg = build_train_config(preset, config, sets or [], flags)
    except ConfigError as err:  # a bad preset, key, type, value or config file: a usage error, exit 2
        raise UsageError(err.message, err.hint) from None
    if show_samples:
        render_samples(cfg, show_samples, as_json)
        return
    output.quiet_libraries()
    result = train(cfg, callbacks=[progress_callback()], notify=_notify)
    if not _is_main_process():
        return  # under torchrun / accelerate launch, one result on stdout, from rank 0
    if as_json:
        output.emit_json(result.to_json())
        return
    rows = [
        ("output", result.output),
        ("steps", result.global_step),
        ("epochs", round(result.epochs, 3)),
        ("first loss", result.first_loss),
        ("final loss", result.final_loss),
        ("seconds", result.seconds),
        ("samples/s", result.samples_per_second),
        ("parameters", result.num_parameters),
        ("trainable", sum(result.trainable_parameters.values())),
        ("memory estimate (GiB)", result.memory_estimate_gib),
    ]
    if result.selected_step is not None:
        rows.append(
            ("selected step", f"{result.selected_step} (best {result.selection_metric} {result.selection_value})")
        )
    if result.resumed_from:
        rows.append(("resumed from", result.resumed_from))
    if result.bad_samples:
        rows.append(("skipped samples", sum(result.bad_samples.values())))
    if result.loss_curve:
        rows.append(("loss curve", result.loss_curve))
    output.print_table("Training finished", rows, ("", "value"))


def render_samples(cfg: Any, count: int, as_json: bool) -> None:
    """--show-samples: one block (or JSON line) per sample on stdout."""
    from vitcli.training.show import show_samples

    output.quiet_libraries()
    for view in show_samples(cfg, count):
        if as_json:
            output.emit_json(view.to_json())
            continue
        output.emit_line(
            f"--- sample {view.index}: {view.num_tokens} tokens ({view.text_tokens} text, "
            f"{view.image_tokens} image, {view.trained_tokens} trained)"
        )
        output.emit_line(view.rendered)
