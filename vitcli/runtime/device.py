"""Device, dtype and seed resolution, done once per command. Imports torch lazily so `import vitcli` stays cheap."""

from __future__ import annotations

import os
import random

from vitcli.runtime.errors import ConfigError

DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def resolve_device(name: str = "auto") -> str:
    """'auto' -> cuda when present (the local rank's GPU under torchrun), then mps, else cpu."""
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
    return name


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


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
