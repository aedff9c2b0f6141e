"""What train() tells people besides the result: a memory estimate before training (weights, gradients, AdamW
state, activations) and a loss-curve PNG at the end (when matplotlib is installed)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitcli.config import TrainConfig
from vitcli.runtime.device import stored_bytes


@dataclass
class MemoryEstimate:
    weights_gib: float
    gradients_gib: float
    optimizer_gib: float
    activations_gib: float
    total_gib: float

    def describe(self) -> str:
        unit, scale = ("GiB", 1.0) if self.total_gib >= 1 else ("MiB", 1024.0)
        parts = {
            "weights": self.weights_gib,
            "gradients": self.gradients_gib,
            "AdamW": self.optimizer_gib,
            "activations": self.activations_gib,
        }
        detail = ", ".join(f"{k} {v * scale:.1f}" for k, v in parts.items())
        return f"memory estimate per device: {self.total_gib * scale:.1f} {unit} ({detail})"


def estimate_memory(model: Any, cfg: TrainConfig, dtype: Any) -> MemoryEstimate:
    """Weights as stored (--load-in: 4/2/1/~0.52 bytes per fp32/bf16/8-bit/4-bit weight; trainable ones fp32,
    autocast computes in `dtype`), fp32 gradients and two AdamW moments
    for trainable parameters, and transformer activations of ~34·s·b·h bytes per layer (Korthikanti et al. 2022;
    ~2·s·b·h with gradient checkpointing). A planning number: expect the allocator to add 10-20%."""
    gib = 1024**3
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    weights = sum(stored_bytes(p) for p in model.parameters())
    grads = trainable * 4
    adam = trainable * 8
    text, vision = text_and_vision_configs(model.config)
    layers = first_attr(text, "num_hidden_layers", "n_layer") + first_attr(vision, "num_hidden_layers")
    tokens = cfg.max_length * cfg.per_device_batch_size
    hidden = first_attr(text, "hidden_size", "n_embd", "d_model")
    per_layer = (2 if cfg.gradient_checkpointing else 34) * tokens * hidden
    acts = per_layer * layers * (0.5 if str(dtype).endswith(("bfloat16", "float16")) else 1)
    vocab = tokens * first_attr(text, "vocab_size") * 4 * 2  # logits and their gradient
    acts += vocab
    return MemoryEstimate(*(round(x / gib, 6) for x in (weights, grads, adam, acts, weights + grads + adam + acts)))


def text_and_vision_configs(config: Any) -> tuple[Any, Any]:
    """(text decoder config, vision config) of any family: Llava-like (text_config), VisionEncoderDecoder (decoder,
    encoder), GIT (the config is the text config) or Florence-2 / BLIP (text_config, vision_config)."""
    try:
        text = config.get_text_config(decoder=True)
    except (AttributeError, ValueError):
        text = getattr(config, "text_config", None) or config
    text = getattr(text, "text_config", text)
    vision = getattr(config, "vision_config", None) or getattr(config, "encoder", None)
    return text, vision


def first_attr(config: Any, *names: str) -> int:
    """The first of `names` that `config` sets (0 when none, or no config): sizes differ in name by family."""
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return 0


def plot_loss_curve(rows: list[dict[str, Any]], path: Path) -> bool:
    """Train loss (and eval loss) against step into a PNG; False when matplotlib is missing or nothing logged."""
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    if not train or importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot([s for s, _ in train], [v for _, v in train], label="train loss")
    if evals:
        ax.plot([s for s, _ in evals], [v for _, v in evals], "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return True
