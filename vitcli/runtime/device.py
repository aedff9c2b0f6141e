"""Device, dtype, weight-storage and seed resolution, done once per command. Imports torch lazily so `import vitcli`
stays cheap. `resolve_load` turns --load-in into a LoadPlan: how weights are stored (fp32 / bf16 / fp16, or 8-bit /
4-bit through bitsandbytes) and which dtype the forward pass computes in; the loaders in modeling/ apply it."""

from __future__ import annotations

import importlib.util
import os
import random
from dataclasses import dataclass
from typing import Any

from vitcli.runtime.errors import ConfigError

DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
LOAD_CHOICES = ("auto", "fp32", "bf16", "fp16", "8bit", "4bit")
QUANTIZED = ("8bit", "4bit")
# Bytes per stored weight; 4-bit also keeps one fp32 absmax per 64 weights, itself 8-bit under double quantization.
BYTES_PER_WEIGHT = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "8bit": 1.0, "4bit": 0.5 + 1 / 64 + 4 / (64 * 256)}
QUANT_HINT = "pip install 'vitcli[quant]' on a Linux machine with a CUDA GPU"
# Module names bitsandbytes leaves unquantized: the head, and (in a VLM) the vision tower and the projector.
QUANT_SKIP = ["lm_head", "vision_tower", "multi_modal_projector"]


def resolve_device(name: str = "auto") -> str:
    """'auto' -> cuda when present (the local rank's GPU under torchrun), then mps, else cpu. 'cuda:N' must name a
    GPU this process can see."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} asked for, but CUDA is not available", "use --device cpu or auto")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise ConfigError(f"unknown device '{name}'", "use auto, cpu, cuda, cuda:N or mps")
    index = cuda_index(name)
    if index is not None and index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(
            f"--device {name} asked for, but this process sees {count} GPU{'s' if count != 1 else ''}",
            f"pick an index below {count} (CUDA_VISIBLE_DEVICES renumbers GPUs from 0), or pass --device cuda",
        )
    return name


def cuda_index(device: str) -> int | None:
    """N of 'cuda:N'; None for 'cuda' and every other device."""
    prefix, _, index = device.partition(":")
    if prefix != "cuda" or not index:
        return None
    if not index.isdigit():
        raise ConfigError(f"unknown device '{device}'", "use auto, cpu, cuda, cuda:N or mps")
    return int(index)


def use_device(device: str) -> None:
    """Make 'cuda:N' this process's current GPU, so everything that says plain 'cuda' (accelerate, the Trainer's
    batches, kernels) lands on N. Under torchrun each rank keeps cuda:LOCAL_RANK, so an explicit other index is
    refused there."""
    import torch

    index = cuda_index(device)
    if index is None:
        return
    local = os.environ.get("LOCAL_RANK")
    if local is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(local) != index:
        raise ConfigError(
            f"--device {device} under a multi-process launch (each rank uses cuda:LOCAL_RANK, here {local})",
            "pass --device auto or cuda, and pick GPUs with CUDA_VISIBLE_DEVICES",
        )
    torch.cuda.set_device(index)


def resolve_dtype(name: str, device: str):
    """'auto' -> bf16 on CUDA devices that support it, fp32 elsewhere."""
    import torch

    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in DTYPE_NAMES:
        raise ConfigError(f"unknown dtype '{name}'", "use auto, bf16, fp16 or fp32")
    return getattr(torch, DTYPE_NAMES[name])


@dataclass(frozen=True)
class LoadPlan:
    """How a model's weights are stored and computed with. `weights_dtype` is the dtype of every weight that is not
    quantized (all of them for fp32/bf16/fp16); `compute_dtype` is what the forward pass runs in (autocast in
    training, bitsandbytes' compute dtype under 8/4-bit)."""

    name: str  # fp32 | bf16 | fp16 | 8bit | 4bit (never auto)
    weights_dtype: Any
    compute_dtype: Any

    @property
    def quantized(self) -> bool:
        return self.name in QUANTIZED

    @property
    def bytes_per_weight(self) -> float:
        return BYTES_PER_WEIGHT[self.name]

    def quantization_config(self) -> Any:
        """transformers' BitsAndBytesConfig for 8/4-bit (QLoRA's: NF4, double quantization), else None."""
        if not self.quantized:
            return None
        from transformers import BitsAndBytesConfig

        if self.name == "8bit":
            return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=QUANT_SKIP)
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=self.compute_dtype,
            llm_int8_skip_modules=QUANT_SKIP,
        )

    def from_pretrained_kwargs(self, device: str) -> dict[str, Any]:
        """Keyword arguments for from_pretrained: the storage dtype, plus (8/4-bit) the quantization config and a
        device map that quantizes straight onto `device` (bitsandbytes weights cannot be moved afterwards)."""
        kwargs: dict[str, Any] = {"dtype": self.weights_dtype}
        if self.quantized:
            kwargs.update(quantization_config=self.quantization_config(), device_map={"": device})
        return kwargs


def resolve_load(load_in: str, device: str, dtype: Any, training: bool = False) -> LoadPlan:
    """The LoadPlan for --load-in on `device`, given the resolved --dtype. 'auto' stores weights in bf16 when the
    model computes in bf16 on CUDA, else keeps the old behaviour: fp32 for training (autocast does the rest), the
    --dtype for inference. Stored bf16/fp16 weights compute in that dtype (frozen half-precision weights cannot
    meet fp32 trainable ones without autocast). 8/4-bit needs CUDA and bitsandbytes; it computes in bf16 (fp16 when
    --dtype fp16)."""
    import torch

    if load_in not in LOAD_CHOICES:
        raise ConfigError(f"unknown --load-in '{load_in}'", f"use one of: {', '.join(LOAD_CHOICES)}")
    if load_in == "auto":
        if device.startswith("cuda") and dtype == torch.bfloat16:
            load_in = "bf16"
        elif training or dtype == torch.float32:
            load_in = "fp32"
        else:
            load_in = "bf16" if dtype == torch.bfloat16 else "fp16"
    if load_in == "fp32":
        return LoadPlan("fp32", torch.float32, dtype)
    if load_in in ("bf16", "fp16"):
        half = getattr(torch, DTYPE_NAMES[load_in])
        return LoadPlan(load_in, half, half)
    if not device.startswith("cuda"):
        raise ConfigError(
            f"--load-in {load_in} quantizes through bitsandbytes, which needs a CUDA GPU (device here: {device})",
            "use --load-in bf16 (half the memory of fp32) on this machine",
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(f"--load-in {load_in} needs the bitsandbytes package, which is not installed", QUANT_HINT)
    compute = torch.float16 if dtype == torch.float16 else torch.bfloat16
    return LoadPlan(load_in, compute, compute)


def stored_bytes(param: Any) -> float:
    """Bytes a parameter holds in memory. bitsandbytes packs two 4-bit weights per uint8 element (so numel is half
    the weight count) and keeps per-block scales beside them; int8 weights keep one scale per row."""
    kind = type(param).__name__
    if kind == "Params4bit":
        return param.numel() * 2 * BYTES_PER_WEIGHT["4bit"]
    if kind == "Int8Params":
        return param.numel() * BYTES_PER_WEIGHT["8bit"] + 4 * (param.shape[0] if param.dim() else 1)
    return float(param.numel() * param.element_size())


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
