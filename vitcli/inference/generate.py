"""generate(model, processor, images, prompts, gen_cfg) -> list[Prediction]: batched decoding with left padding
and the KV cache, results in input order. Prompts go through the processor's chat template."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vitcli.config import GenerationConfig
from vitcli.data.chat import build_prompt


@dataclass
class Prediction:
    prompt: str
    text: str
    num_tokens: int
    seconds: float  # wall time of the batch this item was in, shared equally


def decoding_kwargs(cfg: GenerationConfig) -> dict[str, Any]:
    sample = cfg.temperature > 0
    kwargs: dict[str, Any] = {"max_new_tokens": cfg.max_new_tokens, "num_beams": cfg.num_beams, "do_sample": sample}
    if sample:
        kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
    return kwargs


def generate_batch(model: Any, processor: Any, images: list[Any], prompts: list[str], cfg: GenerationConfig) -> list[Prediction]:
    """One padded batch through model.generate; returns the decoded new tokens of each row."""
    import torch

    texts = [build_prompt(processor.tokenizer, p) for p in prompts]
    inputs = processor(images=images, text=texts, padding=True, return_tensors="pt")
    first = next(model.parameters())
    inputs = {k: v.to(first.device, dtype=first.dtype if v.is_floating_point() else v.dtype) for k, v in inputs.items()}
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, **decoding_kwargs(cfg))
    seconds = (time.perf_counter() - start) / len(prompts)
    new = out[:, inputs["input_ids"].shape[1]:]  # (B, T_new)
    eos = {processor.tokenizer.eos_token_id, processor.tokenizer.pad_token_id}
    preds = []
    for prompt, row in zip(prompts, new.tolist()):
        kept = []
        for t in row:
            if t in eos:
                break
            kept.append(t)
        text = processor.tokenizer.decode(kept, skip_special_tokens=True).strip()
        preds.append(Prediction(prompt=prompt, text=text, num_tokens=len(kept), seconds=round(seconds, 4)))
    return preds


def generate(model: Any, processor: Any, images: list[Any], prompts: list[str], cfg: GenerationConfig,
             on_batch: Callable[[int, list[Prediction]], None] | None = None) -> list[Prediction]:
    """All items in batches of cfg.batch_size; `on_batch(start_index, preds)` fires as each batch completes."""
    import torch

    if cfg.temperature > 0:
        torch.manual_seed(cfg.seed)
    results: list[Prediction] = []
    for start in range(0, len(prompts), cfg.batch_size):
        preds = generate_batch(model, processor, images[start:start + cfg.batch_size],
                               prompts[start:start + cfg.batch_size], cfg)
        if on_batch:
            on_batch(start, preds)
        results.extend(preds)
    return results
