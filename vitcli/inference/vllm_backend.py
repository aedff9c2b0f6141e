"""`--backend vllm`: the same batches and Prediction rows as generate.py, decoded by vLLM (GPU machines).
Prompts are rendered by the checkpoint's own processor, as with the transformers backend. vLLM is optional:
without it this module raises a ConfigError with the install hint."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

from vitcli.runtime.errors import ConfigError

INSTALL_HINT = "pip install 'vitcli[vllm]' (Linux with a CUDA GPU), or use the default --backend transformers"


def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("--backend vllm needs the vllm package, which is not installed", INSTALL_HINT)


def load_vllm(cfg: Any) -> Callable[[list[Any], list[str | None]], list[Any]]:
    """An LLM engine for cfg.model and run_batch(images, prompts) -> list[Prediction]."""
    require_vllm()
    from transformers import AutoConfig
    from vllm import LLM, SamplingParams

    from vitcli.inference.generate import Prediction, effective_prompt
    from vitcli.modeling.adapter import FamilyAdapter
    from vitcli.modeling.load import load_processor, model_type_of

    gen = cfg.generation
    if gen.num_beams > 1:
        raise ConfigError(
            "--num-beams is not supported with --backend vllm", "drop --num-beams, or use --backend transformers"
        )
    model_type = model_type_of(cfg.model, cfg.trust_remote_code)
    processor = load_processor(cfg.model, model_type, cfg.trust_remote_code)
    adapter = FamilyAdapter.for_model(
        AutoConfig.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code), processor
    )
    if adapter.family.prompt != "chat":
        raise ConfigError(
            f"--backend vllm needs a chat model; '{cfg.model}' has no chat template",
            "use --backend transformers for captioners such as VisionEncoderDecoder or BLIP",
        )
    dtype = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(cfg.dtype, cfg.dtype)
    load_in = getattr(cfg, "load_in", "auto")
    quant = {}
    if load_in in ("bf16", "fp16", "fp32"):
        dtype = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[load_in]
    elif load_in == "4bit":
        quant = {"quantization": "bitsandbytes"}  # vLLM quantizes in flight (NF4)
    elif load_in == "8bit":
        raise ConfigError("--load-in 8bit is not supported with --backend vllm", "use --load-in 4bit or bf16")
    llm = LLM(
        model=cfg.model,
        trust_remote_code=cfg.trust_remote_code,
        dtype=dtype,
        seed=gen.seed,
        limit_mm_per_prompt={"image": 1},
        **quant,
    )
    params = SamplingParams(
        max_tokens=gen.max_new_tokens,
        temperature=gen.temperature,
        top_p=gen.top_p if gen.temperature > 0 else 1.0,
        seed=gen.seed,
    )

    def run_batch(images: list[Any], prompts: list[str | None], tasks: list[str | None] | None = None) -> list[Any]:
        asked = [effective_prompt(adapter, p, t) for p, t in zip(prompts, tasks or [None] * len(prompts), strict=True)]
        requests = [
            {"prompt": adapter.prompt_text(q), "multi_modal_data": {"image": img}}
            for q, img in zip(asked, images, strict=True)
        ]
        start = time.perf_counter()
        outs = llm.generate(requests, params, use_tqdm=False)
        seconds = round((time.perf_counter() - start) / len(images), 4)
        return [
            Prediction(
                prompt=q, text=o.outputs[0].text.strip(), num_tokens=len(o.outputs[0].token_ids), seconds=seconds
            )
            for q, o in zip(asked, outs, strict=True)
        ]

    return run_batch
