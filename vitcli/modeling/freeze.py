"""What each stage trains: align = projector only; instruct = projector + LM; full = everything."""

from __future__ import annotations

from typing import Any

from vitcli.runtime.errors import ConfigError

STAGES = ("align", "instruct", "full")


def apply_stage(model: Any, stage: str, unfreeze_vision: bool = False) -> dict[str, int]:
    """Set requires_grad per stage; returns {'projector': n, 'language_model': n, 'vision_tower': n} trainable counts."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}'", f"choose one of: {', '.join(STAGES)}")
    trains = {
        "multi_modal_projector": True,
        "language_model": stage in ("instruct", "full"),
        "vision_tower": stage == "full" or unfreeze_vision,
    }
    counts = {}
    for part, on in trains.items():
        module = getattr(model.model, part)
        for p in module.parameters():
            p.requires_grad_(on)
        counts[part] = sum(p.numel() for p in module.parameters() if p.requires_grad)
    # lm_head is tied to the input embeddings in our compositions; untied heads follow the LM.
    for p in model.lm_head.parameters():
        p.requires_grad_(trains["language_model"] or p.requires_grad)
    return counts
