"""Shared fixtures: offline hub, a temporary home, a tiny synthetic dataset and a tiny trained run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def offline_env(monkeypatch, tmp_path_factory):
    """No test may reach a hub, and none may write into the real home or HF cache."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("VITCLI_DEBUG", raising=False)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small synthetic dataset (48 px scenes), built once per session."""
    from vitcli.data.build import BuildConfig, build_dataset
    from vitcli.data.sources.synthetic import SyntheticConfig

    out = tmp_path_factory.mktemp("data") / "shapes"
    build_dataset(
        BuildConfig(out=str(out), synthetic=SyntheticConfig(seed=1, num_train=24, num_val=4, num_test=6, image_size=32))
    )
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, tmp_path_factory) -> Path:
    """A run folder trained for a few steps with the 'test' preset (random-ish but a real checkpoint)."""
    from vitcli.config import build_train_config
    from vitcli.training.run import train

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = build_train_config(
        "test", None, [], {"data": str(tiny_dataset), "output": str(out), "max_steps": 3, "device": "cpu"}
    )
    train(cfg)
    return out
