"""train(cfg) -> TrainResult: the recipe, as a numbered list of calls. The engine is transformers' Trainer, so the
same command runs under torchrun / accelerate launch (DDP, FSDP, DeepSpeed) with no code of ours in between."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitcli.config import TrainConfig, to_dict
from vitcli.runtime.errors import ConfigError, DataError, Interrupted
from vitcli.runtime.io import check_output_free, write_json
from vitcli.training.recipe import plan_recipe, selection_of
from vitcli.training.run_dir import LOSS_CURVE, METRICS, RUN_CONFIG, open_run_dir, save_final_model


@dataclass
class TrainResult:
    output: str
    global_step: int
    epochs: float
    first_loss: float
    final_loss: float
    seconds: float
    samples_per_second: float
    num_parameters: int
    trainable_parameters: dict[str, int]
    config: dict[str, Any]
    resumed_from: str | None = None
    memory_estimate_gib: float = 0.0
    bad_samples: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> count (skipped)
    truncated_samples: int = 0
    loss_curve: str | None = None
    selected_step: int | None = None  # select_checkpoint=best: the step whose weights are the final model
    selection_metric: str | None = None
    selection_value: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def train(
    cfg: TrainConfig, callbacks: list[Any] | None = None, notify: Callable[[str], None] | None = None
) -> TrainResult:
    """Train per `cfg`. `notify` receives status lines for people (memory estimate, resume, skipped samples).
    SIGINT/SIGTERM save a checkpoint at the next step boundary, then raise Interrupted (exit 130)."""
    import torch
    from transformers.trainer_callback import PrinterCallback

    from vitcli.data.build import load_built_dataset
    from vitcli.data.records import message_texts
    from vitcli.modeling.adapter import FamilyAdapter
    from vitcli.modeling.compose import compose_model, keep_trainable_fp32, merge_quantized_lora, prepare_quantized
    from vitcli.modeling.freeze import TRAINABLE_FILE, merge_lora, prepare_model
    from vitcli.modeling.projector_init import fit_new_projector
    from vitcli.runtime.device import resolve_device, resolve_dtype, resolve_load, seed_everything, use_device
    from vitcli.training.answer_loss import REDUCTIONS, answer_loss_func, projects_answers_only
    from vitcli.training.interrupt import StopOnSignal
    from vitcli.training.loop import (
        MetricsLogger,
        VitcliTrainer,
        check_engine,
        make_training_args,
        read_metrics,
        tensorboard_callback,
    )
    from vitcli.training.report import estimate_memory, plot_loss_curve
    from vitcli.training.rows import FamilyCollator, RowDataset
    from vitcli.training.samples import SampleLog

    # 1. Check inputs and outputs before any heavy work.
    out = Path(cfg.output or "")
    if not cfg.output:
        raise ConfigError("no output directory given", "pass --output RUN_DIR")
    if cfg.loss_reduction not in REDUCTIONS:
        raise ConfigError(f"unknown loss_reduction '{cfg.loss_reduction}'", f"choose one of: {', '.join(REDUCTIONS)}")
    resuming = cfg.resume or bool(cfg.resume_from)
    if not resuming:
        check_output_free(out, cfg.overwrite, "--output")
    say = notify or (lambda _msg: None)
    data = load_built_dataset(cfg.data)
    if "train" not in data or len(data["train"]) == 0:
        raise DataError(f"dataset '{cfg.data}' has no train rows", "build it with more --num-train rows")
    device = resolve_device(cfg.device)
    use_device(device)  # cuda:N becomes the current GPU before anything lands on one
    dtype = resolve_dtype(cfg.dtype, device)
    load = resolve_load(cfg.load_in, device, dtype, training=True)  # weight storage and compute dtype
    check_engine(cfg, device, load.compute_dtype)
    seed_everything(cfg.seed)
    train_rows = data["train"]
    if cfg.max_train_samples:
        train_rows = train_rows.select(range(min(cfg.max_train_samples, len(train_rows))))
    train_rows, best = plan_recipe(cfg, data, train_rows, say)  # sizes from the data, validation, selection

    # 2. Compose the model (tiny from configs, from pretrained parts, or an existing VLM), weights stored as --load-in
    #    says. Only then build TrainingArguments: under a DeepSpeed ZeRO-3 config they make from_pretrained partition
    #    weights as it loads, and composition (the tower's dummy forward, weight copies, module swaps) needs them whole.
    model, processor = compose_model(cfg.model, message_texts(train_rows), load, device)
    fitted = fit_new_projector(cfg.projector_init, cfg.model, model, processor, train_rows)
    if fitted is not None:
        say(fitted.describe())
    args = make_training_args(cfg, out, device, load.compute_dtype, best)  # under torchrun/accelerate: joins the group
    main = args.process_index == 0
    resume_ckpt = open_run_dir(cfg, out, resuming, main)

    # 3. Choose what trains, encode the data (answer-only labels), set up the engine.
    model = prepare_quantized(model, load, cfg.gradient_checkpointing)  # QLoRA: 8/4-bit LM, the rest fp32
    model, plan = prepare_model(model, cfg)  # stage freezing, LoRA wrapping; plan lists what trains
    keep_trainable_fp32(model)  # half-precision storage is for frozen weights; AdamW updates fp32 ones
    trainable = plan.trainable
    if cfg.contrastive == "views" and cfg.contrastive_weight and not trainable.get("vision_tower"):
        raise ConfigError(
            f"--contrastive views trains the vision tower, which stage '{cfg.stage}' keeps frozen",
            "use --stage full (or --set unfreeze_vision=true), or --contrastive text",
        )
    if cfg.pack_turns > 1:  # vitcli-composed LLaVA: rows of one image share one sample (encoded per item)
        train_set, collator, samples, eval_set, task_eval = packed_data(cfg, data, train_rows, model, processor)
    else:  # any family: rows read per item, encoded per batch by the family adapter
        adapter = FamilyAdapter.for_model(model, processor)
        train_set = RowDataset(train_rows, adapter, cfg.skip_bad_samples, max_length=cfg.max_length)
        collator, samples = FamilyCollator(adapter, cfg.max_length), train_set.report
        eval_set, task_eval = make_eval_data(cfg, data, processor, adapter)
    probe_samples(train_set, collator, cfg.per_device_batch_size)  # a systematic problem fails before any write
    skipped_eval = sum(getattr(task_eval, "multi_image_rows", {}).values()) if task_eval else 0
    if skipped_eval:
        say(f"evaluation during training leaves out {skipped_eval} validation rows with several images")
    if samples.left_out:
        say(f"left out {samples.left_out} train rows of tasks this model does not train on (it captions only)")
    if shutil.disk_usage(out.parent if out.parent.exists() else Path.cwd()).free < 1 << 28:
        raise ConfigError(f"less than 256 MiB free beside '{out}'", "free some disk space")
    if main:
        write_json(out / RUN_CONFIG, to_dict(cfg))
        write_json(out / TRAINABLE_FILE, plan.to_json())
    memory = estimate_memory(model, cfg, load.compute_dtype)
    say(memory.describe())
    if resume_ckpt:
        say(f"resuming from {resume_ckpt}")
    if cfg.tensorboard and importlib.util.find_spec("tensorboard") is None:
        say("tensorboard is not installed, so only metrics.jsonl is written (pip install tensorboard)")
    logger = MetricsLogger(out / METRICS)
    stop = StopOnSignal()
    lr_by_part = {"vision_tower": cfg.vision_learning_rate, "multi_modal_projector": cfg.projector_learning_rate}
    answers_only = cfg.answer_logits_only and projects_answers_only(model, processor)
    trainer = VitcliTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        lr_by_part=lr_by_part,
        data_collator=collator,
        contrastive_weight=cfg.contrastive_weight,
        contrastive_temperature=cfg.contrastive_temperature,
        contrastive=cfg.contrastive,
        augment_images=cfg.augment_images,
        answers_only=answers_only,
        task_eval=task_eval,
        compute_loss_func=answer_loss_func(cfg.loss_reduction, answers_only),
        callbacks=[logger, stop, *(tensorboard_callback(cfg, out) if main else []), *(callbacks or [])],
        sample_log=SampleLog(samples),
    )
    trainer.remove_callback(PrinterCallback)  # stdout is for results; progress goes through our callbacks

    # 4. Train (a signal saves a checkpoint and stops), then save a standard checkpoint (safetensors + config +
    #    processor + chat template) atomically, and draw the loss curve.
    start = time.perf_counter()
    stop.install()
    try:
        stats = trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
    finally:
        stop.uninstall()
        torch.set_grad_enabled(True)
    seconds = time.perf_counter() - start
    if samples.num_skipped:  # counted as the samples were met (on this rank: each rank reads its own shard)
        say(f"skipped {samples.num_skipped} bad train samples: {samples.reasons}")
    if stop.stopped_at is not None:
        raise Interrupted(
            f"training interrupted at step {stop.stopped_at}; checkpoint saved in "
            f"'{out / 'checkpoints'}/checkpoint-{stop.stopped_at}'",
            "run the same command with --resume to continue",
        )
    if load.quantized:  # QLoRA: dequantized base + adapters, merged at full precision, exported in bf16/fp16
        trainer.model = merge_quantized_lora(trainer.model, load.compute_dtype)
    trainer.model = merge_lora(trainer.model)  # LoRA runs export a plain model, adapters merged
    if load.name in ("bf16", "fp16") and not args.deepspeed:
        trainer.model.to(load.weights_dtype)  # export in the storage dtype (trainable parts trained in fp32)
    save_final_model(trainer, processor, out)
    curve = main and plot_loss_curve(read_metrics(out / METRICS), out / LOSS_CURVE)
    return TrainResult(
        output=str(out),
        global_step=stats.global_step,
        epochs=float(trainer.state.epoch or 0.0),
        first_loss=logger.first_loss,
        final_loss=logger.last_loss,
        seconds=round(seconds, 2),
        samples_per_second=round(
            stats.global_step
            * args.train_batch_size
            * args.gradient_accumulation_steps
            * args.world_size
            / max(seconds, 1e-9),
            2,
        ),
        num_parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=trainable,
        config=json.loads(json.dumps(to_dict(cfg))),
        resumed_from=str(resume_ckpt) if resume_ckpt else None,
        memory_estimate_gib=memory.total_gib,
        bad_samples=samples.reasons if samples.num_skipped else {},
        truncated_samples=samples.num_truncated,
        loss_curve=str(out / LOSS_CURVE) if curve else None,
        **selection_of(trainer.state, best),
    )


def packed_data(cfg: TrainConfig, data: Any, train_rows: Any, model: Any, processor: Any) -> tuple[Any, ...]:
    """(train set, collator, sample report, eval set, task eval) for pack_turns > 1: rows sharing an image are grouped
    up front (from the image column) and each group encoded as one item when read, so its rows share the image's
    tokens. Only vitcli-composed LLaVA models pack (a fixed image length)."""
    from vitcli.modeling.families import IMAGE_TOKEN
    from vitcli.training.collate import Collator, ConversationDataset
    from vitcli.training.loop import count_image_tokens
    from vitcli.training.samples import SampleReport

    tokenizer = processor.tokenizer
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if model.config.model_type != "llava" or image_token_id in (None, tokenizer.unk_token_id):
        raise ConfigError(
            f"pack_turns > 1 packs vitcli-composed LLaVA models; this is a {model.config.model_type}",
            "drop --set pack_turns (or --preset tiny) for this model",
        )
    attention = getattr(getattr(model.config, "text_config", model.config), "_attn_implementation", None) or "sdpa"
    if attention not in ("sdpa", "eager"):
        raise ConfigError(
            f"pack_turns > 1 needs a 4D attention mask, which {attention} attention does not take",
            "use --set pack_turns=1, or load the LM with sdpa or eager attention",
        )
    num_image_tokens = count_image_tokens(processor)
    train_set = ConversationDataset(
        train_rows, processor, num_image_tokens, cfg.pack_turns, cfg.max_length, cfg.skip_bad_samples
    )
    collator = Collator(tokenizer.pad_token_id, additive_mask=attention == "eager")
    samples = SampleReport(num_samples=len(train_rows))
    eval_set, task_eval = None, None
    if cfg.eval_every_steps > 0:
        rows = validation_rows(cfg, data)
        eval_set = ConversationDataset(rows, processor, num_image_tokens, max_length=cfg.max_length, skip_bad=True)
        task_eval = make_task_eval(cfg, rows, processor)
    return train_set, collator, samples, eval_set, task_eval


def probe_samples(dataset: Any, collator: Any, count: int) -> None:
    """Read and collate the first `count` items in this process before anything is written, so a systematic problem
    (a --max-length that cuts every image) fails up front; every other sample is checked when a worker reads it."""
    from vitcli.training.samples import SampleLog

    items = [dataset[i] for i in range(min(count, len(dataset)))]
    SampleLog().take(collator(items))


def validation_rows(cfg: TrainConfig, data: Any) -> Any:
    if "validation" not in data or len(data["validation"]) == 0:
        raise DataError(
            f"--eval-every-steps needs a validation split in '{cfg.data}'",
            "build the dataset with validation rows, or drop --eval-every-steps",
        )
    rows = data["validation"]
    if cfg.eval_max_samples:
        rows = rows.select(range(min(cfg.eval_max_samples * 4, len(rows))))
    return rows


def make_task_eval(cfg: TrainConfig, rows: Any, processor: Any) -> Any:
    from vitcli.training.task_eval import TaskEval

    return TaskEval(rows, processor, cfg.eval_max_samples, cfg.per_device_batch_size)


def make_eval_data(cfg: TrainConfig, data: Any, processor: Any, adapter: Any) -> tuple[Any, Any]:
    """The validation split as (loss dataset, task metrics) when --eval-every-steps is set, else (None, None)."""
    from vitcli.training.rows import RowDataset

    if cfg.eval_every_steps <= 0:
        return None, None
    rows = validation_rows(cfg, data)
    eval_set = RowDataset(rows, adapter, skip_bad=True, split="validation", max_length=cfg.max_length)
    return eval_set, make_task_eval(cfg, rows, processor)
