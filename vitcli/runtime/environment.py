"""What a bug report needs (`vitcli env`): versions of vitcli, Python and the libraries it runs on, the devices
torch sees, Java (METEOR / PTB tokenizer), which vitcli extras are usable, and the offline flags. Never raises:
a missing or broken package is reported, not fatal. Imports torch (for devices) only when called."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from vitcli import __version__

NOT_INSTALLED = "not installed"
# module -> distribution name, in the order a report lists them
PACKAGES = {
    "torch": "torch",
    "transformers": "transformers",
    "datasets": "datasets",
    "peft": "peft",
    "accelerate": "accelerate",
    "tokenizers": "tokenizers",
    "torchvision": "torchvision",
    "num2words": "num2words",
    "gguf": "gguf",
    "vllm": "vllm",
    "deepspeed": "deepspeed",
    "bitsandbytes": "bitsandbytes",
}
EXTRAS = {"families": ("torchvision", "num2words"), "gguf": ("gguf",), "vllm": ("vllm",)}  # extra -> modules
FIND_ONLY = {"vllm"}  # found, not imported: importing vllm takes seconds and starts its own logging
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME")


@dataclass
class Environment:
    vitcli: str
    python: str
    platform: str
    packages: dict[str, str]  # module -> version or "not installed"
    torch: dict[str, Any]  # cuda_available, cuda_version, devices, mps_available (error when torch is broken)
    java: str  # first line of `java -version`, or "not found"
    extras: dict[str, bool]  # vitcli extra -> all its modules import
    offline: dict[str, str | None] = field(default_factory=dict)  # env var -> value (None = unset)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def installed(module: str) -> bool:
    """Whether `module` can be found (a module set to None in sys.modules counts as missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def package_version(module: str, dist: str) -> str:
    if not installed(module):
        return NOT_INSTALLED
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(sys.modules.get(module), "__version__", "unknown"))


def importable(module: str) -> bool:
    """A real import: torchvision built for another torch is installed, yet unusable."""
    if not installed(module):
        return False
    try:
        importlib.import_module(module)
    except Exception:  # any failure at import time makes the extra unusable
        return False
    return True


def torch_info() -> tuple[str, dict[str, Any]]:
    """torch's own version string and what it sees: CUDA (version, device names) and MPS."""
    if not installed("torch"):
        return NOT_INSTALLED, {"cuda_available": False, "cuda_version": None, "devices": [], "mps_available": False}
    try:
        import torch

        cuda = torch.cuda.is_available()
        devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        return torch.__version__, {
            "cuda_available": cuda,
            "cuda_version": torch.version.cuda,
            "devices": devices,
            "mps_available": mps,
        }
    except Exception as e:  # a broken torch install is exactly what a bug report should show
        return package_version("torch", "torch"), {"error": f"{type(e).__name__}: {e}"}


def java_version() -> str:
    java = shutil.which("java")
    if java is None:
        return "not found"
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{java} (failed: {type(e).__name__})"
    lines = (done.stderr or done.stdout).strip().splitlines()  # java prints its version on stderr
    return lines[0] if lines else f"{java} (no version output)"


def collect_environment() -> Environment:
    packages = {m: package_version(m, d) for m, d in PACKAGES.items() if m != "torch"}
    torch_version, torch_details = torch_info()
    packages = {"torch": torch_version, **packages}
    extras = {
        name: all(installed(m) if m in FIND_ONLY else importable(m) for m in modules)
        for name, modules in EXTRAS.items()
    }
    return Environment(
        vitcli=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages=packages,
        torch=torch_details,
        java=java_version(),
        extras=extras,
        offline={name: os.environ.get(name) for name in OFFLINE_VARS},
    )
