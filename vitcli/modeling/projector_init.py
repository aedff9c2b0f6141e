"""A new projector fitted to what the tower says about the training images (`--set projector_init=standardize`).

Image tokens that barely differ between images, or dwarf the LM's word embeddings, give a frozen LM nothing to read.
This starts the projector where neither holds, by two folds into its own weights (the checkpoint stays plain LLaVA):
  1. linear_1 sees per-channel standardised features: W1 <- W1 / s, b1 <- b1 - W1 (mu / s), with mu and s the
     channel mean and spread over the tokens of up to 64 training images (s floored at a tenth of the median);
  2. linear_2 is scaled so the median image-token norm equals the median norm of the LM's word embeddings.
Opt-in: on EfficientNet-Lite0 + SmolLM2 the composed projector already starts near there (tokens vary across images
1.05x their magnitude, norm 4.2 vs 3.2); what collapsed that run's image tokens was training (see README). The train
log line reports both figures before and after, which is the diagnostic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

SAMPLE_IMAGES = 64
SPREAD_FLOOR = 0.1  # x the median channel spread: near-constant channels are not blown up


@dataclass
class ProjectorFit:
    images: int
    signal_before: float  # spread of image tokens across images / their mean magnitude, with the composed projector
    signal_after: float
    token_norm_before: float  # median image-token norm
    token_norm_after: float
    word_norm: float  # median norm of the LM's input embeddings (the target)

    def describe(self) -> str:
        return (
            f"projector fitted to the tower's features on {self.images} train images: image tokens vary across images "
            f"{self.signal_before:.2f} -> {self.signal_after:.2f} of their magnitude, median norm "
            f"{self.token_norm_before:.1f} -> {self.token_norm_after:.1f} (word embeddings {self.word_norm:.1f})"
        )


def projector_of(model: Any) -> Any:
    inner = getattr(model, "model", model)
    return getattr(inner, "multi_modal_projector", None)


@torch.no_grad()
def fit_projector(model: Any, pixel_values: torch.Tensor) -> ProjectorFit:
    """Fold feature standardisation and the LM's embedding scale into the projector of a composed LLaVA model, from
    the tower's features of `pixel_values` (N, C, H, W)."""
    projector = projector_of(model)
    first, last = projector.linear_1, projector.linear_2
    captured: list[torch.Tensor] = []
    hook = projector.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    was_training = model.training
    model.eval()
    try:
        before = image_tokens(model, pixel_values, captured)  # (N, T, D) as composed
        features = captured[0].float().reshape(-1, captured[0].shape[-1])  # (N*T, C): the projector's input
        mean, spread = features.mean(0), features.std(0)
        spread = spread.clamp(min=float(spread.median()) * SPREAD_FLOOR).clamp(min=1e-6)
        weight = first.weight.float().clone()  # .float() of an fp32 weight is the weight itself
        bias = first.bias.float() if first.bias is not None else torch.zeros(weight.shape[0])
        first.weight.copy_((weight / spread).to(first.weight.dtype))
        if first.bias is not None:
            first.bias.copy_((bias - weight @ (mean / spread)).to(first.bias.dtype))
        scaled = image_tokens(model, pixel_values, captured)
        word = float(model.get_input_embeddings().weight.float().norm(dim=-1).median())
        scale = word / max(float(scaled.norm(dim=-1).median()), 1e-6)
        last.weight.mul_(scale)
        if last.bias is not None:
            last.bias.mul_(scale)
        after = image_tokens(model, pixel_values, captured)
    finally:
        hook.remove()
        model.train(was_training)
    return ProjectorFit(
        images=len(pixel_values),
        signal_before=signal(before),
        signal_after=signal(after),
        token_norm_before=float(before.norm(dim=-1).median()),
        token_norm_after=float(after.norm(dim=-1).median()),
        word_norm=word,
    )


def image_tokens(model: Any, pixel_values: torch.Tensor, captured: list[torch.Tensor]) -> torch.Tensor:
    """The projected image tokens (N, T, D) of `pixel_values`, in fp32; `captured` gets the projector's input."""
    captured.clear()
    device = next(model.parameters()).device
    dtype = next(projector_of(model).parameters()).dtype
    out = model.model.get_image_features(pixel_values=pixel_values.to(device, dtype))
    tokens = getattr(out, "pooler_output", out)
    if isinstance(tokens, (list, tuple)):
        tokens = torch.stack(list(tokens))
    return tokens.float().reshape(len(pixel_values), -1, tokens.shape[-1])


def signal(tokens: torch.Tensor) -> float:
    """How much the image tokens (N, T, D) differ between images, relative to their magnitude."""
    return float(tokens.std(0).mean() / tokens.abs().mean().clamp(min=1e-12))


def sample_pixels(rows: Any, processor: Any, count: int = SAMPLE_IMAGES) -> torch.Tensor | None:
    """Pixel values (N, C, H, W) of up to `count` distinct first images spread over `rows`; None without images."""
    from vitcli.data.records import undecoded_images
    from vitcli.runtime.images import open_image

    step = max(len(rows) // (count * 8), 1)  # look at up to 8 rows per wanted image: rows often share images
    seen: set[Any] = set()
    images: list[Any] = []
    picked = undecoded_images(rows.select(range(0, len(rows), step)).select_columns(["id", "images"]))
    for row in picked:
        if len(images) >= count:
            break
        cells: Sequence[Any] = row["images"] or []
        if not cells:
            continue
        key = cells[0].get("path") or cells[0].get("bytes")
        if key in seen:
            continue
        seen.add(key)
        images.append(open_image(cells[0], row["id"]))
    if not images:
        return None
    return processor.image_processor(images, return_tensors="pt")["pixel_values"]


def wants_fit(mode: str, model_cfg: Any) -> bool:
    """projector_init 'standardize' fits a newly composed projector; 'default' keeps the framework's random init.
    A continued model (--model) keeps its trained projector."""
    return mode == "standardize" and not model_cfg.model and model_cfg.arch == "llava"


def fit_new_projector(mode: str, model_cfg: Any, model: Any, processor: Any, train_rows: Any) -> ProjectorFit | None:
    """Fit the projector of a newly composed model to the train images' features when `mode` asks for it."""
    if not wants_fit(mode, model_cfg) or projector_of(model) is None:
        return None
    pixels = sample_pixels(train_rows, processor)
    return None if pixels is None else fit_projector(model, pixels)
