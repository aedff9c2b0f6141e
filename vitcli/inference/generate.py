"""generate(model, processor, images, prompts, gen_cfg) -> list[Prediction]: batched decoding with the KV cache,
results in input order. Prompts are encoded by the model family's adapter (modeling/adapter.py), exactly as training
encodes them; this module owns devices, decoding and stripping the echoed prompt."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vitcli.config import GenerationConfig
from vitcli.runtime.errors import ConfigError


@dataclass
class Prediction:
    prompt: str | None  # the question asked (None: the model captions without one)
    text: str
    num_tokens: int
    seconds: float  # wall time of the batch this item was in, shared equally


def decoding_kwargs(cfg: GenerationConfig) -> dict[str, Any]:
    """model.generate kwargs: greedy by default, beams with --num-beams, sampling when temperature > 0."""
    sample = cfg.temperature > 0
    kwargs: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens,
        "num_beams": cfg.num_beams,
        "do_sample": sample,
        "use_cache": True,
    }
    if sample:
        kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
    else:  # a checkpoint's generation_config may ask for sampling; greedy means greedy
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs


def effective_prompt(adapter: Any, prompt: str | None, task: str | None = None) -> str | None:
    """The question actually asked: a prompt when given, else the family's caption prompt (None: no text)."""
    if prompt and not adapter.family.takes_prompt and task != "caption":  # a caption row's prompt is not asked
        raise ConfigError(
            f"this model ({adapter.family.name}) only captions; it takes no prompt",
            "drop --prompt (and --requests prompts), or use an image-text-to-text model",
        )
    return adapter.question(prompt, task or ("vqa" if prompt else "caption"))


def encode_batch(model: Any, adapter: Any, images: list[Any], questions: list[str | None]) -> dict[str, Any]:
    """The adapter's generation inputs on the model's device; floating tensors (pixels) in the model's dtype."""
    inputs = adapter.encode_prompts(images, questions)
    first = next(model.parameters())
    return {k: v.to(first.device, dtype=first.dtype if v.is_floating_point() else v.dtype) for k, v in inputs.items()}


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generated sequence: eos (one or several) and pad."""
    ids: set[int] = set()
    for v in (
        getattr(model.generation_config, "eos_token_id", None),
        tokenizer.eos_token_id,
        getattr(model.generation_config, "pad_token_id", None),
        tokenizer.pad_token_id,
    ):
        ids.update(v if isinstance(v, (list, tuple)) else [] if v is None else [v])
    return ids


def new_token_rows(model: Any, out: Any, inputs: dict[str, Any], adapter: Any = None) -> list[list[int]]:
    """The generated tokens of each row, without the echoed prompt (decoder-only models return prompt + new
    tokens, encoder-decoders a leading decoder-start token, BLIP the prompt as its generate() rewrites it)."""
    rows = out.tolist()
    if getattr(model.config, "is_encoder_decoder", False) or "input_ids" not in inputs:
        return [r[1:] for r in rows]
    prompt = inputs["input_ids"].tolist()
    if adapter is not None:
        prompt = [adapter.conditioned_on(p) for p in prompt]
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


def generate_batch(
    model: Any,
    processor: Any,
    images: list[Any],
    prompts: list[str | None],
    cfg: GenerationConfig,
    tasks: list[str] | None = None,
) -> list[Prediction]:
    """One padded batch through model.generate; returns the decoded new tokens of each row. `tasks` (per row:
    caption | vqa | ...) lets a dataset's caption rows be asked the way the family captions."""
    import torch

    from vitcli.modeling.adapter import FamilyAdapter

    adapter = FamilyAdapter.for_model(model, processor)
    tasks = tasks or [None] * len(prompts)
    asked = [effective_prompt(adapter, p, t) for p, t in zip(prompts, tasks, strict=True)]
    if adapter.family.same_length_batches and len(images) > 1:
        groups: dict[int, list[int]] = {}
        for i, q in enumerate(asked):
            groups.setdefault(len(adapter.tokenizer(q or "")["input_ids"]), []).append(i)
        if len(groups) > 1:  # rows of one prompt length per call; results back in input order
            preds: list[Prediction | None] = [None] * len(images)
            for rows in groups.values():
                for i, pred in zip(
                    rows,
                    generate_batch(
                        model,
                        processor,
                        [images[i] for i in rows],
                        [prompts[i] for i in rows],
                        cfg,
                        [tasks[i] for i in rows],
                    ),
                    strict=True,
                ):
                    preds[i] = pred
            return preds  # type: ignore[return-value]
    inputs = encode_batch(model, adapter, images, asked)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, **decoding_kwargs(cfg))  # (B, T_prompt + T_new) or (B, 1 + T_new)
    seconds = (time.perf_counter() - start) / len(images)
    decoded = decode_rows(model, processor.tokenizer, new_token_rows(model, out, inputs, adapter))
    return [
        Prediction(prompt=p, text=text, num_tokens=n, seconds=round(seconds, 4))
        for p, (text, n) in zip(asked, decoded, strict=True)
    ]


def generate(
    model: Any,
    processor: Any,
    images: list[Any],
    prompts: list[str | None],
    cfg: GenerationConfig,
    on_batch: Callable[[int, list[Prediction]], None] | None = None,
    tasks: list[str] | None = None,
) -> list[Prediction]:
    """All items in batches of cfg.batch_size; `on_batch(start_index, preds)` fires as each batch ends."""
    import torch

    if cfg.temperature > 0:
        torch.manual_seed(cfg.seed)
    results: list[Prediction] = []
    for start in range(0, len(images), cfg.batch_size):
        end = start + cfg.batch_size
        preds = generate_batch(
            model, processor, images[start:end], prompts[start:end], cfg, tasks[start:end] if tasks else None
        )
        if on_batch:
            on_batch(start, preds)
        results.extend(preds)
    return results
