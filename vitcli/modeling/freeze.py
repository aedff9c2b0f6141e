"""What each stage trains: align = projector only; instruct = projector + LM (or LoRA adapters on the LM's linear
layers); full = everything; --unfreeze-vision adds the tower to any stage. Parameters are sorted into parts by
name, so the same rules cover Llava, other image-text-to-text models, VisionEncoderDecoder and peft-wrapped models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vitcli.runtime.errors import ConfigError

STAGES = ("align", "instruct", "full")
PARTS = ("multi_modal_projector", "language_model", "vision_tower")
# Module-name segments that mark a part. For VisionEncoderDecoder the cross-attention is the "projector":
# the only newly initialised bridge between a pretrained encoder and decoder. BLIP-2's bridge is its Q-Former
# (qformer, query_tokens, language_projection); GIT's its visual_projection.
PROJECTOR_NAMES = {
    "multi_modal_projector",
    "mm_projector",
    "connector",
    "enc_to_dec_proj",
    "crossattention",
    "ln_cross_attn",
    "qformer",
    "query_tokens",
    "language_projection",
    "visual_projection",
}
VISION_NAMES = {"vision_tower", "vision_model", "visual", "image_encoder"}
TRAINABLE_FILE = "trainable_parameters.json"


@dataclass
class StagePlan:
    """What a run trains: counts per part and every trainable parameter name (written into the run folder)."""

    stage: str
    lora: bool
    trainable: dict[str, int]
    trainable_names: list[str] = field(default_factory=list)
    total_parameters: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "lora": self.lora,
            "trainable": self.trainable,
            "total_parameters": self.total_parameters,
            "trainable_names": self.trainable_names,
        }


def is_encoder_decoder(model: Any) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "vision-encoder-decoder"


def part_of(name: str, encoder_decoder: bool = False) -> str:
    """'model.vision_tower.x' -> 'vision_tower'; peft prefixes (base_model.model.) and copies are handled alike."""
    segments = name.split(".")
    if encoder_decoder:
        stripped = name.removeprefix("base_model.model.")
        if stripped.startswith("encoder."):
            return "vision_tower"
    if any(s in PROJECTOR_NAMES for s in segments):
        return "multi_modal_projector"
    if any(s in VISION_NAMES for s in segments):
        return "vision_tower"
    return "language_model"  # the LM body, its embeddings and lm_head


def count_trainable(model: Any) -> dict[str, int]:
    ed = is_encoder_decoder(model)  # peft wrappers forward .config to the wrapped model
    counts = dict.fromkeys(PARTS, 0)
    for name, p in model.named_parameters():
        if p.requires_grad:
            counts[part_of(name, ed)] += p.numel()
    return counts


def apply_stage(model: Any, stage: str, unfreeze_vision: bool = False) -> dict[str, int]:
    """Set requires_grad per stage; returns trainable counts {'multi_modal_projector', 'language_model',
    'vision_tower'}."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}'", f"choose one of: {', '.join(STAGES)}")
    trains = {
        "multi_modal_projector": True,
        "language_model": stage in ("instruct", "full"),
        "vision_tower": stage == "full" or unfreeze_vision,
    }
    ed = is_encoder_decoder(model)
    for name, p in model.named_parameters():  # 8/4-bit weights (integer storage) never train; LoRA adapts them
        p.requires_grad_(trains[part_of(name, ed)] and p.is_floating_point())
    return count_trainable(model)


def prepare_model(model: Any, cfg: Any) -> tuple[Any, StagePlan]:
    """apply_stage, then (with cfg.lora) wrap the LM's linear layers in LoRA adapters. Returns the model to train
    (a peft PeftModel under LoRA, so Trainer checkpoints hold adapter + projector state) and its StagePlan."""
    apply_stage(model, cfg.stage, cfg.unfreeze_vision)
    if cfg.lora:
        model = add_lora(model, cfg)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    plan = StagePlan(
        stage=cfg.stage,
        lora=bool(cfg.lora),
        trainable=count_trainable(model),
        trainable_names=names,
        total_parameters=sum(p.numel() for p in model.parameters()),
    )
    return model, plan


def lora_target_names(model: Any, targets: str) -> list[str]:
    """Full names of the LM's linear layers (nn.Linear, GPT-2's Conv1D) to adapt; `targets` is 'all-linear' or a
    comma list of layer names such as 'q_proj,v_proj'. lm_head is never adapted."""
    import torch
    from transformers.pytorch_utils import Conv1D

    wanted = None if targets.strip() in ("", "all-linear") else {t.strip() for t in targets.split(",") if t.strip()}
    ed = is_encoder_decoder(model)
    names = []
    for name, module in model.named_modules():
        last = name.rsplit(".", 1)[-1]
        if not isinstance(module, (torch.nn.Linear, Conv1D)) or last == "lm_head":
            continue
        if part_of(name, ed) == "language_model" and (wanted is None or last in wanted):
            names.append(name)
    if not names:
        raise ConfigError(
            f"no LM linear layers match lora_target_modules '{targets}'",
            "use all-linear, or layer names such as q_proj,v_proj (c_attn for GPT-2)",
        )
    return names


def add_lora(model: Any, cfg: Any) -> Any:
    """peft LoRA on the LM; the projector (and an unfrozen tower) train fully as modules_to_save."""
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    if cfg.stage == "align":
        raise ConfigError(
            "--lora adapts the LM, which the align stage keeps frozen", "use --stage instruct with --lora"
        )
    targets = lora_target_names(model, cfg.lora_target_modules)
    modules = dict(model.named_modules())
    ed = is_encoder_decoder(model)
    full_parts = {"multi_modal_projector"} | ({"vision_tower"} if cfg.unfreeze_vision or cfg.stage == "full" else set())
    to_save = sorted(
        {
            n.rsplit(".", 1)[-1]
            for n, m in model.named_modules()
            if n
            and n.rsplit(".", 1)[-1] in PROJECTOR_NAMES | VISION_NAMES
            and part_of(n, ed) in full_parts
            and not any(p in PROJECTOR_NAMES | VISION_NAMES for p in n.split(".")[:-1])
        }
    )
    if ed and "vision_tower" in full_parts:
        to_save.append("encoder")
    config = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        modules_to_save=to_save or None,
        bias="none",
        fan_in_fan_out=isinstance(modules[targets[0]], Conv1D),
    )
    return get_peft_model(model, config)


def merge_lora(model: Any) -> Any:
    """A plain transformers model for export: LoRA merged into the base weights, projector copies folded back."""
    if hasattr(model, "merge_and_unload") and hasattr(model, "peft_config"):
        return model.merge_and_unload()
    return model
