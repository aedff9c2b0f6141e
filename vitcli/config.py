"""Config dataclasses, presets and their merge order: preset < config file < --set key=value < explicit flags.
Each command's core function takes one of these; the CLI only fills them in."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.config_checks import validate_train_config
from vitcli.runtime.errors import ConfigError


@dataclass
class ModelConfig:
    """What to train: a composition from parts (vision + projector + LM) or an existing checkpoint."""

    arch: str = "llava"  # llava | encoder-decoder
    model: str | None = None  # continue from an existing VLM (our run dir, hub id, local dir)
    vision: str | None = None  # pretrained vision tower; None = random tower from the sizes below
    llm: str | None = None  # pretrained causal LM (hub id, dir or .gguf); None = random LM from the sizes below
    projector: str = "mlp2x_gelu"  # linear | mlp2x_gelu
    vision_type: str = "siglip"  # random tower family: siglip (plain ViT) | swin (windowed, hierarchical ViT)
    vision_position_init: str = "sincos"  # random siglip tower: sincos (2D sine-cosine start) | random
    vision_feature_layer: int = -1  # hidden state giving image tokens (LLaVA-1.5: -2; a CNN: a stage's feature map)
    vision_feature_select_strategy: str = "full"  # full | default (drop CLS)
    image_size: int = 64
    vision_image_size: int = 0  # pretrained CNN tower: resize images to this side (0 = its processor's size)
    patch_size: int = 8
    vision_hidden_size: int = 128
    vision_num_layers: int = 2
    vision_num_heads: int = 4
    text_hidden_size: int = 128
    text_num_layers: int = 2
    text_num_heads: int = 4
    text_intermediate_size: int = 256
    max_position_embeddings: int = 512
    dropout: float = 0.0


@dataclass
class TrainConfig:
    data: str = ""
    output: str = ""
    preset: str = "tiny"
    model: ModelConfig = field(default_factory=ModelConfig)
    stage: str = "full"  # align | instruct | full
    unfreeze_vision: bool = False  # train the vision tower in any stage
    lora: bool = False  # instruct/full: LoRA adapters on the LM's linear layers instead of training the LM fully
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = "all-linear"  # or a comma list of layer names: q_proj,v_proj
    epochs: float = 1.0
    max_steps: int = 0  # > 0 overrides epochs
    per_device_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    vision_learning_rate: float | None = None  # None = learning_rate
    projector_learning_rate: float | None = None  # None = learning_rate
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_grad_norm: float = 1.0
    max_length: int = 256
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    load_in: str = "auto"  # weight storage: auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16 | 8bit | 4bit
    log_every_steps: int = 10
    overwrite: bool = False
    max_train_samples: int = 0  # 0 = all
    loss_reduction: str = "token"  # token | turn (every answer weighs the same) | sqrt (see training/answer_loss.py)
    answer_logits_only: bool = True  # project only answer positions onto the vocabulary (same loss, less compute)
    pack_turns: int = (
        1  # > 1: up to this many rows sharing an image train as one sample (image encoded once, rows kept apart)
    )
    # Engine (training/loop.py): checkpoints, resume, evaluation, logging, memory, objective extras.
    save_every_steps: int = 0  # > 0: checkpoint every N optimizer steps (SIGINT/SIGTERM always checkpoint)
    keep_last_checkpoints: int = 2  # checkpoints kept in RUN/checkpoints (older ones are deleted); 0 = all
    resume: bool = False  # continue from the newest complete checkpoint in --output
    resume_from: str | None = None  # continue from this checkpoint folder
    eval_every_steps: int = 0  # > 0: validation loss + VQA accuracy / CIDEr every N steps
    eval_max_samples: int = 32  # validation rows generated per task at each evaluation
    tensorboard: bool = True  # also log to RUN/tensorboard when tensorboard is installed
    gradient_checkpointing: bool = False
    group_by_length: bool = False  # batches of similar length (less padding; lengths are cheap estimates)
    fit_to_data: str = ""  # comma list of keys chosen from the dataset (training/recipe.py FITTABLE)
    select_checkpoint: str = "last"  # last | best: the final model is the checkpoint best on validation
    validation_ratio: float = 0.05  # share of train images held out when validation is needed and the data has none
    dataloader_workers: int = -1  # processes that read, tokenise and decode items; -1 = cores - 1 (at most 8)
    projector_init: str = "default"  # default (framework init) | standardize: fit a new projector to its features
    augment_images: float = 0.0  # > 0: shift each training image by up to this fraction of its side (augment.py)
    contrastive_weight: float = 0.0  # > 0: add W * image-text InfoNCE to the LM loss
    contrastive_temperature: float = 0.07  # tau of the InfoNCE term
    contrastive: str = "text"  # text: image-text InfoNCE | views: NT-Xent over two augmented views of each image
    skip_bad_samples: bool = False  # drop (and count) samples with empty labels or cut image tokens
    deepspeed: str | None = None  # a DeepSpeed JSON config (examples/deepspeed_zero2.json)
    fsdp: str = ""  # e.g. "full_shard auto_wrap" (see examples/MULTI_GPU.md)
    fsdp_config: str | None = None  # a JSON file of FSDP options


@dataclass
class GenerationConfig:
    max_new_tokens: int = 32
    num_beams: int = 1
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    batch_size: int = 16
    seed: int = 0


@dataclass
class EvalConfig:
    task: str = "vqa"  # caption | vqa | gqa | multiple-choice | pope
    model: str | None = None
    data: str | None = None
    split: str = "test"
    predictions: str | None = None
    references: str | None = None  # COCO caption annotations (file scoring)
    questions: str | None = None  # VQA v2 questions JSON (file scoring)
    annotations: str | None = None  # VQA v2 annotations JSON (file scoring)
    allow_missing: bool = False
    require_all: bool = False
    spice: bool = False
    gqa_normalize: str = "official"  # official (GQA eval.py as LLaVA runs it) | vqa (VQA v2 normalisation)
    pid_splits: str | None = None  # ScienceQA pid_splits.json: score the problems of `split` only
    per_item: str | None = None
    report: str | None = None  # self-contained HTML report path
    max_samples: int = 0
    device: str = "auto"
    dtype: str = "auto"
    load_in: str = "auto"  # weight storage: auto (the --dtype) | fp32 | bf16 | fp16 | 8bit | 4bit (CUDA)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    overwrite: bool = False  # replace an existing per_item / report file
    allow_pickle: bool = False  # load .bin/.pt weights (weights_only=True) when a model folder has no safetensors


@dataclass
class TextEvalConfig:
    """`eval --task text` (evaluation/text_retention.py): a tuned model's language against its base LM."""

    model: str | None = None  # the tuned run / model
    base: str | None = None  # the base LM (hub id, dir, .gguf); None = the run's recorded model.llm
    text_file: str | None = None  # held-out text: perplexity
    qa_file: str | None = None  # JSONL {"prompt", "answer"}: greedy exact match
    window: int = 0  # tokens per perplexity window; 0 = min(model context, 512)
    stride: int = 0  # tokens between window starts; 0 = window // 2
    max_new_tokens: int = 32
    device: str = "auto"
    allow_pickle: bool = False


PRESETS: dict[str, dict[str, Any]] = {
    # A ~0.7M-parameter VLM that learns the synthetic world on 2 CPU cores in minutes: 48 px images as 6x6
    # patches, rows of one image packed into one sample (the image is encoded once per 5 answers, rows kept apart).
    # The image size, epochs and regularisation are chosen from the data (48 px, 20 epochs and none for the synthetic
    # world, the fallback with --set fit_to_data=), and the final model is the checkpoint best on validation
    # (training/recipe.py).
    "tiny": {
        "model.image_size": 48,
        "model.patch_size": 8,
        "pack_turns": 5,
        "warmup_ratio": 0.02,
        "epochs": 20,
        "fit_to_data": "model.image_size,epochs,model.dropout,weight_decay,augment_images",
        "select_checkpoint": "best",
        "eval_max_samples": 128,
    },
    # Pretrained models (--model, --llm or --vision): LLaVA-1.5's recipe. One epoch, no packing, no truncation
    # (max_length 0: the model's own context); the learning rate follows the stage (STAGE_LEARNING_RATES).
    "pretrained": {"epochs": 1, "max_length": 0, "per_device_batch_size": 4, "pack_turns": 1, "warmup_ratio": 0.03},
    # Smaller still, for tests: trains in seconds, learns nothing useful.
    "test": {
        "model.image_size": 32,
        "model.patch_size": 8,
        "model.vision_hidden_size": 32,
        "model.vision_num_layers": 1,
        "model.vision_num_heads": 2,
        "model.text_hidden_size": 32,
        "model.text_num_layers": 1,
        "model.text_num_heads": 2,
        "model.text_intermediate_size": 64,
        "per_device_batch_size": 4,
        "max_steps": 4,
        "log_every_steps": 1,
        "dataloader_workers": 0,  # a worker process costs more start-up than these batches take
    },
}


def _field_type(cls: type, name: str) -> Any:
    hints = typing.get_type_hints(cls)
    return hints[name]


def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Turn a --set string (or a JSON/YAML value) into the field's declared type."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, args[0], key)
    try:
        if typ is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if typ in (int, float, str):
            if typ is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return typ(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"'{key}' expects {typ.__name__}, got {value!r}", "fix the value in --set or the config file"
        ) from None
    return value


def apply_overrides(cfg: Any, overrides: dict[str, Any]) -> Any:
    """Set dotted keys ('model.image_size') on a nested config dataclass, coercing types; unknown keys fail."""
    for key, value in overrides.items():
        target, parts = cfg, key.split(".")
        for part in parts[:-1]:
            if not dataclasses.is_dataclass(getattr(target, part, None)):
                raise ConfigError(f"unknown config key '{key}'", _known_keys_hint(cfg, key))
            target = getattr(target, part)
        name = parts[-1]
        if name not in {f.name for f in dataclasses.fields(target)}:
            raise ConfigError(f"unknown config key '{key}'", _known_keys_hint(cfg, key))
        typ = _field_type(type(target), name)
        if dataclasses.is_dataclass(getattr(target, name)):
            if not isinstance(value, dict):
                raise ConfigError(f"'{key}' expects a mapping", "use nested keys such as model.image_size")
            apply_overrides(getattr(target, name), value)
        else:
            setattr(target, name, _coerce(value, typ, key))
    return cfg


def _known_keys_hint(cfg: Any, key: str = "") -> str:
    """'did you mean ...?' from every dotted key of `cfg`, else the first few keys."""
    import difflib

    keys = list(flatten(to_dict(cfg)))
    close = difflib.get_close_matches(key, keys, n=2) or difflib.get_close_matches(key.rpartition(".")[2], keys, n=2)
    if close:
        return "did you mean " + " or ".join(f"'{k}'" for k in close) + "?"
    return "known keys include: " + ", ".join(keys[:12])


def parse_set_options(items: list[str]) -> dict[str, str]:
    """['a.b=1', 'c=x'] -> {'a.b': '1', 'c': 'x'}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set '{item}' is not key=value", "write e.g. --set model.image_size=64")
        out[key.strip()] = value.strip()
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping of config keys (nested or dotted)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' not found", "check the --config path")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # yaml and json raise many types; all mean "not parseable"
        raise ConfigError(
            f"config file '{p}' could not be parsed: {str(e).splitlines()[0]}", "check its syntax"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{p}' must hold a mapping, not {type(data).__name__}", "write key: value pairs")
    return data


STAGE_LEARNING_RATES = {"align": 1e-3, "instruct": 2e-5, "full": 2e-5}  # LLaVA-1.5: projector 1e-3, LM 2e-5
PRETRAINED_KEYS = ("model.model", "model.llm", "model.vision")


def build_train_config(
    preset: str | None, config_file: str | None, sets: list[str], flags: dict[str, Any]
) -> TrainConfig:
    """Merge in the documented order; `flags` holds only the options the user actually passed. Without --preset,
    a run from pretrained parts (--model/--llm/--vision) gets the 'pretrained' recipe and from scratch 'tiny'."""
    given: dict[str, Any] = {}
    if config_file:
        given.update(flatten(load_config_file(config_file)))
    given.update(parse_set_options(sets))
    given.update({k: v for k, v in flags.items() if v is not None})
    if preset is None:
        preset = "pretrained" if any(given.get(k) for k in PRETRAINED_KEYS) else "tiny"
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'", f"choose one of: {', '.join(PRESETS)}")
    cfg = TrainConfig(preset=preset)
    apply_overrides(cfg, PRESETS[preset])
    apply_overrides(cfg, given)
    if "fit_to_data" not in given:  # what the user sets is not chosen from the data
        cfg.fit_to_data = ",".join(k for k in cfg.fit_to_data.split(",") if k and k not in given)
    if preset == "pretrained" and "learning_rate" not in given:
        cfg.learning_rate = STAGE_LEARNING_RATES.get(cfg.stage, cfg.learning_rate)
    validate_train_config(cfg)  # every value, whatever its source, before any work starts
    return cfg


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model': {'llm': x}} -> {'model.llm': x}; dotted keys stay as they are."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return apply_overrides(TrainConfig(), data)
