"""generate(model, processor, images, prompts, gen_cfg) -> list[Prediction]: batched decoding with left
padding and the KV cache, results in input order. Prompts are rendered by inference.prompting (chat
template, plain text, or none for VisionEncoderDecoder captioners); this module owns tensors and decoding."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vitcli.config import GenerationConfig
from vitcli.inference.prompting import effective_prompt, render_prompts


@dataclass
class Prediction:
    prompt: str | None  # the question asked (None: the model captions without one)
    text: str
    num_tokens: int
    seconds: float  # wall time of the batch this item was in, shared equally


def decoding_kwargs(cfg: GenerationConfig) -> dict[str, Any]:
    """model.generate kwargs: greedy by default, beams with --num-beams, sampling when temperature > 0."""
    sample = cfg.temperature > 0
    kwargs: dict[str, Any] = {"max_new_tokens": cfg.max_new_tokens, "num_beams": cfg.num_beams,
                              "do_sample": sample, "use_cache": True}
    if sample:
        kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
    else:  # a checkpoint's generation_config may ask for sampling; greedy means greedy
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def encode_batch(model: Any, processor: Any, images: list[Any], prompts: list[str | None]) -> dict[str, Any]:
    """Processor output moved to the model's device; floating tensors (pixels) in the model's dtype."""
    texts = render_prompts(processor, prompts)
    if texts is None:
        inputs = processor(images=images, return_tensors="pt")
    else:
        inputs = processor(images=images, text=texts, padding=True, return_tensors="pt")
    first = next(model.parameters())
    return {k: v.to(first.device, dtype=first.dtype if v.is_floating_point() else v.dtype)
            for k, v in inputs.items()}


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generated sequence: eos (one or several) and pad."""
    ids: set[int] = set()
    for v in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id,
              getattr(model.generation_config, "pad_token_id", None), tokenizer.pad_token_id):
        ids.update(v if isinstance(v, (list, tuple)) else [] if v is None else [v])
    return ids


def new_token_rows(model: Any, out: Any, inputs: dict[str, Any]) -> list[list[int]]:
    """The generated tokens of each row, without the echoed prompt (decoder-only models return prompt + new
    tokens, encoder-decoders a leading decoder-start token, BLIP-style models part of their prompt)."""
    rows = out.tolist()
    if getattr(model.config, "is_encoder_decoder", False) or "input_ids" not in inputs:
        return [r[1:] for r in rows]
    prompt = inputs["input_ids"].tolist()
    width = len(prompt[0])
    if all(r[:width] == p for r, p in zip(rows, prompt, strict=True)):
        return [r[width:] for r in rows]
    trimmed = []
    for r, p in zip(rows, prompt, strict=True):  # strip the longest echoed prefix of this row's prompt
        n = 0
        while n < min(len(p), len(r)) and r[n] == p[n]:
            n += 1
        trimmed.append(r[n:])
    return trimmed


def decode_rows(model: Any, tokenizer: Any, rows: list[list[int]]) -> list[tuple[str, int]]:
    """(text, number of tokens before the first stop token) for each row."""
    stops = stop_ids(model, tokenizer)
    decoded = []
    for row in rows:
        kept = []
        for t in row:
            if t in stops:
                break
            kept.append(t)
        decoded.append((tokenizer.decode(kept, skip_special_tokens=True).strip(), len(kept)))
    return decoded


def generate_batch(model: Any, processor: Any, images: list[Any], prompts: list[str | None],
                   cfg: GenerationConfig) -> list[Prediction]:
    """One padded batch through model.generate; returns the decoded new tokens of each row."""
    import torch

    asked = [effective_prompt(processor, p) for p in prompts]
    inputs = encode_batch(model, processor, images, asked)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, **decoding_kwargs(cfg))  # (B, T_prompt + T_new) or (B, 1 + T_new)
    seconds = (time.perf_counter() - start) / len(images)
    decoded = decode_rows(model, processor.tokenizer, new_token_rows(model, out, inputs))
    return [Prediction(prompt=p, text=text, num_tokens=n, seconds=round(seconds, 4))
            for p, (text, n) in zip(asked, decoded, strict=True)]


def generate(model: Any, processor: Any, images: list[Any], prompts: list[str | None], cfg: GenerationConfig,
             on_batch: Callable[[int, list[Prediction]], None] | None = None) -> list[Prediction]:
    """All items in batches of cfg.batch_size; `on_batch(start_index, preds)` fires as each batch ends."""
    import torch

    if cfg.temperature > 0:
        torch.manual_seed(cfg.seed)
    results: list[Prediction] = []
    for start in range(0, len(images), cfg.batch_size):
        preds = generate_batch(model, processor, images[start:start + cfg.batch_size],
                               prompts[start:start + cfg.batch_size], cfg)
        if on_batch:
            on_batch(start, preds)
        results.extend(preds)
    return results
