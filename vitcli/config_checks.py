"""Every TrainConfig and GenerationConfig value checked in one place, before any work starts: finite numbers,
ranges, choices and contradictions, whatever the source (flag, --set, --config). Raises UsageError (exit 2)
naming the key. Paths, datasets and models are not checked here: train() and the loaders own those."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

from vitcli.runtime.errors import UsageError

# Choices; tests/test_config_checks.py pins these against the modules that act on them.
STAGES = ("align", "instruct", "full")
ARCHS = ("llava", "encoder-decoder")
PROJECTORS = ("linear", "mlp2x_gelu")
LOSS_REDUCTIONS = ("token", "turn", "sqrt")
VISION_TYPES = ("siglip", "swin", "cnn")
SELECT_STRATEGIES = ("full", "default")
POSITION_INITS = ("sincos", "random")
DTYPES = ("auto", "bf16", "fp16", "fp32")
LOAD_IN = ("auto", "fp32", "bf16", "fp16", "8bit", "4bit")  # runtime/device.py LOAD_CHOICES
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

Rule = tuple[str, Callable[[Any], bool], str]  # dotted key, test, what the value must be


def _positive(v: Any) -> bool:
    return v > 0


def _at_least_1(v: Any) -> bool:
    return v >= 1


def _not_negative(v: Any) -> bool:
    return v >= 0


def _unit(v: Any) -> bool:  # 0 <= v < 1
    return 0 <= v < 1


SIZES = (
    "image_size",
    "patch_size",
    "vision_hidden_size",
    "vision_num_layers",
    "vision_num_heads",
    "text_hidden_size",
    "text_num_layers",
    "text_num_heads",
    "text_intermediate_size",
    "max_position_embeddings",
)
TRAIN_RULES: list[Rule] = [
    ("learning_rate", _positive, "> 0"),
    ("vision_learning_rate", lambda v: v is None or v > 0, "> 0 (or unset)"),
    ("projector_learning_rate", lambda v: v is None or v > 0, "> 0 (or unset)"),
    ("per_device_batch_size", _at_least_1, ">= 1"),
    ("gradient_accumulation_steps", _at_least_1, ">= 1"),
    ("max_steps", _not_negative, ">= 0 (0 = use epochs)"),
    ("weight_decay", _not_negative, ">= 0"),
    ("warmup_ratio", _unit, "in [0, 1)"),
    ("max_grad_norm", _not_negative, ">= 0"),
    ("max_length", _not_negative, ">= 0 (0 = the model's context)"),
    ("model.dropout", _unit, "in [0, 1)"),
    ("augment_images", lambda v: 0 <= v < 0.5, "in [0, 0.5): the largest shift as a fraction of the image side"),
    ("model.vision_image_size", _not_negative, ">= 0 (0 = the tower's own size)"),
    ("lora_r", _at_least_1, ">= 1"),
    ("lora_alpha", _at_least_1, ">= 1"),
    ("lora_dropout", _unit, "in [0, 1)"),
    ("contrastive_weight", _not_negative, ">= 0"),
    ("contrastive_temperature", _positive, "> 0"),
    ("pack_turns", _at_least_1, ">= 1"),
    ("dataloader_workers", lambda v: v >= -1, ">= 0 (or -1: one per spare core, at most 8)"),
    ("save_every_steps", _not_negative, ">= 0 (0 = never)"),
    ("eval_every_steps", _not_negative, ">= 0 (0 = never)"),
    ("log_every_steps", _at_least_1, ">= 1"),
    ("keep_last_checkpoints", _not_negative, ">= 0 (0 = all)"),
    ("eval_max_samples", _at_least_1, ">= 1"),
    ("max_train_samples", _not_negative, ">= 0 (0 = all)"),
    *[(f"model.{name}", _at_least_1, ">= 1") for name in SIZES],
]
TRAIN_CHOICES: list[tuple[str, tuple[str, ...]]] = [
    ("stage", STAGES),
    ("model.arch", ARCHS),
    ("model.projector", PROJECTORS),
    ("loss_reduction", LOSS_REDUCTIONS),
    ("contrastive", ("text", "views")),  # training/contrastive.py
    ("projector_init", ("default", "standardize")),  # modeling/projector_init.py
    ("model.vision_type", VISION_TYPES),
    ("model.vision_feature_select_strategy", SELECT_STRATEGIES),
    ("model.vision_position_init", POSITION_INITS),
    ("dtype", DTYPES),
    ("load_in", LOAD_IN),
    ("select_checkpoint", ("last", "best")),  # training/recipe.py
]
FITTABLE = ("model.image_size", "epochs", "model.dropout", "weight_decay", "augment_images")  # training/recipe.py
GENERATION_RULES: list[Rule] = [
    ("max_new_tokens", _at_least_1, ">= 1"),
    ("num_beams", _at_least_1, ">= 1"),
    ("temperature", _not_negative, ">= 0 (0 = greedy)"),
    ("top_p", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("batch_size", _at_least_1, ">= 1"),
]
WHERE = "fix it where it was given: a flag, --set {key}=VALUE, or the --config file"
FLAG = "pass --{flag} with a value {requirement}"


def _get(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _check_finite(cfg: Any, prefix: str = "") -> None:
    """NaN and infinity pass every comparison the wrong way; refuse them in any float field."""
    for f in dataclasses.fields(cfg):
        value, key = getattr(cfg, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            _check_finite(value, f"{key}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{key} must be a finite number, got {value!r}", WHERE.format(key=key))


def _check_rules(cfg: Any, rules: list[Rule], hint: str = WHERE) -> None:
    for key, ok, requirement in rules:
        value = _get(cfg, key)
        if not ok(value):
            flag = key.replace("_", "-")
            raise UsageError(
                f"{key} must be {requirement}, got {value!r}", hint.format(key=key, flag=flag, requirement=requirement)
            )


def validate_train_config(cfg: Any) -> None:
    """Raise UsageError for the first value a TrainConfig cannot train with; return None when all are fine."""
    _check_finite(cfg)
    _check_rules(cfg, TRAIN_RULES)
    if cfg.max_steps == 0 and cfg.epochs <= 0:
        raise UsageError(f"epochs must be > 0 when max_steps is 0, got {cfg.epochs!r}", WHERE.format(key="epochs"))
    for key, choices in TRAIN_CHOICES:
        if _get(cfg, key) not in choices:
            raise UsageError(f"unknown {key} '{_get(cfg, key)}'", f"choose one of: {', '.join(choices)}")
    unknown = [k for k in cfg.fit_to_data.split(",") if k.strip() and k.strip() not in FITTABLE]
    if unknown:
        raise UsageError(f"fit_to_data cannot choose '{unknown[0]}'", f"list some of: {', '.join(FITTABLE)}")
    if not 0 < cfg.validation_ratio <= 0.5:
        raise UsageError(
            f"validation_ratio must be in (0, 0.5], got {cfg.validation_ratio!r}", WHERE.format(key="validation_ratio")
        )
    if not DEVICE.fullmatch(cfg.device):
        raise UsageError(f"unknown device '{cfg.device}'", "use auto, cpu, cuda, cuda:N or mps")
    if cfg.model.image_size % cfg.model.patch_size:
        raise UsageError(
            f"model.image_size {cfg.model.image_size} is not a multiple of model.patch_size {cfg.model.patch_size}",
            "choose sizes such as 48 and 8, or 64 and 16",
        )
    _check_contradictions(cfg)


def _check_contradictions(cfg: Any) -> None:
    if cfg.stage == "align" and cfg.lora:
        raise UsageError("--lora adapts the LM, which stage 'align' keeps frozen", "use --stage instruct with --lora")
    if (cfg.resume or cfg.resume_from) and cfg.overwrite:
        raise UsageError(
            "--resume continues the run in --output, and --overwrite would delete it",
            "drop --overwrite to resume, or drop --resume to start over",
        )
    _check_load_in(cfg)
    if cfg.model.model and (cfg.model.vision or cfg.model.llm):
        raise UsageError(
            "--model continues an existing VLM; it cannot be combined with --vision/--llm",
            "drop --vision/--llm, or drop --model to compose from parts",
        )


def check_load_in(load_in: str, dtype: str, device: str) -> None:
    """--load-in against --dtype and --device, for training and inference alike (pure flag contradictions)."""
    if load_in not in LOAD_IN:
        raise UsageError(f"unknown load_in '{load_in}'", f"choose one of: {', '.join(LOAD_IN)}")
    if load_in in ("bf16", "fp16") and dtype not in ("auto", load_in):
        raise UsageError(
            f"--load-in {load_in} stores weights in {load_in}, so the model computes in {load_in}, not {dtype}",
            f"drop --dtype {dtype}, or use --load-in fp32 with --dtype {dtype} (autocast over fp32 weights)",
        )
    if load_in in ("8bit", "4bit") and device in ("cpu", "mps"):
        raise UsageError(
            f"--load-in {load_in} quantizes through bitsandbytes, which needs a CUDA GPU (--device {device})",
            "use --load-in bf16 (half the memory of fp32), or run on a CUDA machine",
        )
    if load_in in ("8bit", "4bit") and dtype == "fp32":
        raise UsageError(f"--load-in {load_in} computes in bf16 or fp16, not fp32", "drop --dtype fp32")


def _check_load_in(cfg: Any) -> None:
    check_load_in(cfg.load_in, cfg.dtype, cfg.device)
    if cfg.load_in in ("8bit", "4bit") and not cfg.lora:
        raise UsageError(
            f"--load-in {cfg.load_in} freezes the LM in quantized form, so only LoRA adapters can train it (QLoRA)",
            "add --lora --stage instruct, or use --load-in bf16",
        )
    if cfg.load_in in ("8bit", "4bit") and (cfg.deepspeed or cfg.fsdp):
        raise UsageError(
            f"--load-in {cfg.load_in} places the quantized LM on one GPU per process; DeepSpeed/FSDP would shard it",
            "drop --deepspeed/--fsdp (torchrun DDP works), or use --load-in bf16",
        )


def validate_generation_config(gen: Any) -> None:
    """Raise UsageError for a GenerationConfig value generation cannot run with."""
    _check_finite(gen)
    _check_rules(gen, GENERATION_RULES, FLAG)
