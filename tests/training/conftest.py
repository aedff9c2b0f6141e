"""Training-test helpers: configs on the session's tiny dataset, reading final weights, running `vitcli` in a
subprocess (optionally with each step slowed so a test can signal it mid-run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SLOW_STEPS = Path(__file__).with_name("slow_steps.py")


@pytest.fixture
def make_cfg(tiny_dataset):
    from vitcli.config import build_train_config

    def make(out: Path, **flags: Any):
        base = {"data": str(tiny_dataset), "output": str(out), "device": "cpu", "tensorboard": False}
        return build_train_config("test", None, [], {**base, **flags})

    return make


def weights(run: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    import torch

    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=atol, rtol=1e-4, msg=f"weight {k} differs")


def losses(run: Path) -> dict[int, float]:
    from vitcli.training.loop import read_metrics

    return {r["step"]: r["loss"] for r in read_metrics(run / "metrics.jsonl") if "loss" in r}


def vitcli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def run_vitcli(*args: str, slow_s: float = 0.0, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        vitcli_cmd(*args, slow_s=slow_s), env=vitcli_env(), capture_output=True, text=True, timeout=300, **kw
    )


def vitcli_cmd(*args: str, slow_s: float = 0.0) -> list[str]:
    if slow_s:
        return [sys.executable, str(SLOW_STEPS), str(slow_s), *args]
    return [sys.executable, "-m", "vitcli", *args]
