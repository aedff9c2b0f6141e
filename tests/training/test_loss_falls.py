"""The tiny recipe learns: loss falls on a small set, and the run folder is a standard, pickle-free checkpoint."""

from __future__ import annotations

import json

from vitcli.config import build_train_config
from vitcli.training.run import METRICS, RUN_CONFIG, train


def test_loss_falls_and_run_folder_is_complete(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    cfg = build_train_config(
        "test",
        None,
        ["pack_turns=5", "learning_rate=3e-3"],
        {"data": str(tiny_dataset), "output": str(out), "max_steps": 40, "device": "cpu"},
    )
    result = train(cfg)
    losses = [
        json.loads(line)["loss"] for line in (out / METRICS).read_text().splitlines() if "loss" in json.loads(line)
    ]
    assert result.global_step == 40 and len(losses) >= 10
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:3]) / 3, losses  # 4.07 -> ~2.7 with this seed
    names = {p.name for p in out.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "chat_template.jinja",
        RUN_CONFIG,
        METRICS,
    } <= names
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)
    saved = json.loads((out / RUN_CONFIG).read_text())
    assert saved["max_steps"] == 40 and saved["pack_turns"] == 5 and saved["model"]["image_size"] == 32


def test_same_seed_same_weights(tiny_dataset, tmp_path):
    from safetensors.torch import load_file

    runs = []
    for name in ("a", "b"):
        cfg = build_train_config(
            "test",
            None,
            [],
            {"data": str(tiny_dataset), "output": str(tmp_path / name), "max_steps": 3, "device": "cpu", "seed": 5},
        )
        train(cfg)
        runs.append(load_file(str(tmp_path / name / "model.safetensors")))
    assert runs[0].keys() == runs[1].keys()
    assert all((runs[0][k] == runs[1][k]).all() for k in runs[0])
