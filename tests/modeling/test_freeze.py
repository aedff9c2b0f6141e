"""Stages and LoRA: what trains is what the stage says; frozen parameters are bit-identical after training."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

from vitcli.config import build_train_config
from vitcli.modeling.freeze import TRAINABLE_FILE, part_of
from vitcli.runtime.errors import ConfigError
from vitcli.training.run import train


class Snapshot(TrainerCallback):
    """Clones of every named parameter at the start and end of training (names without peft prefixes)."""

    def __init__(self) -> None:
        self.begin: dict[str, torch.Tensor] = {}
        self.end: dict[str, torch.Tensor] = {}

    @staticmethod
    def grab(model) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in model.named_parameters()}

    def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
        self.begin = self.grab(model)

    def on_train_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
        self.end = self.grab(model)


def run(tiny_dataset, tmp_path, sets):
    cfg = build_train_config(
        "test",
        None,
        sets,
        {"data": str(tiny_dataset), "output": str(tmp_path / "run"), "device": "cpu", "max_steps": 2},
    )
    snap = Snapshot()
    result = train(cfg, callbacks=[snap])
    changed = {n for n in snap.begin if not torch.equal(snap.begin[n], snap.end[n])}
    return result, snap, changed


def test_part_names():
    assert part_of("model.multi_modal_projector.linear_1.weight") == "multi_modal_projector"
    assert part_of("base_model.model.model.vision_tower.vision_model.x") == "vision_tower"
    assert part_of("lm_head.weight") == "language_model"
    assert part_of("encoder.encoder.layer.0.attention.query.weight", encoder_decoder=True) == "vision_tower"
    assert part_of("decoder.transformer.h.0.crossattention.c_attn.weight", True) == "multi_modal_projector"


def test_align_trains_only_the_projector(tiny_dataset, tmp_path):
    result, snap, changed = run(tiny_dataset, tmp_path, ["stage=align", "learning_rate=0.01"])
    assert changed and all(part_of(n) == "multi_modal_projector" for n in changed)
    assert result.trainable_parameters["language_model"] == 0 and result.trainable_parameters["vision_tower"] == 0
    recorded = json.loads((tmp_path / "run" / TRAINABLE_FILE).read_text())
    assert recorded["stage"] == "align" and set(recorded["trainable_names"]) >= changed
    assert all(part_of(n) == "multi_modal_projector" for n in recorded["trainable_names"])


def test_instruct_with_unfreeze_vision_trains_all_parts(tiny_dataset, tmp_path):
    _, _, changed = run(tiny_dataset, tmp_path, ["stage=instruct", "unfreeze_vision=true", "learning_rate=0.01"])
    assert {part_of(n) for n in changed} == {"multi_modal_projector", "language_model", "vision_tower"}


def test_instruct_keeps_the_tower_frozen(tiny_dataset, tmp_path):
    _, _, changed = run(tiny_dataset, tmp_path, ["stage=instruct", "learning_rate=0.01"])
    assert {part_of(n) for n in changed} == {"multi_modal_projector", "language_model"}


def test_lora_trains_adapters_and_exports_a_merged_plain_llava(tiny_dataset, tmp_path):
    from transformers import AutoModelForImageTextToText, LlavaForConditionalGeneration

    result, snap, changed = run(
        tiny_dataset,
        tmp_path,
        ["stage=instruct", "lora=true", "lora_r=4", "lora_target_modules=q_proj,v_proj", "learning_rate=0.01"],
    )
    base_changed = {n for n in changed if "lora_" not in n and "modules_to_save" not in n}
    assert not base_changed  # base weights are bit-identical; only adapters and the projector copy move
    assert any("lora_B" in n for n in changed) and any("modules_to_save" in n for n in changed)
    out = tmp_path / "run"
    assert not (out / "adapter_config.json").exists()
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert type(model) is LlavaForConditionalGeneration
    assert not any("lora" in n for n in model.state_dict())
    # merged: q_proj moved, the frozen tower did not
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    begin_q = snap.begin["base_model.model." + q.replace(".weight", ".base_layer.weight")]
    assert not torch.equal(model.state_dict()[q], begin_q)
    tower = {n: p for n, p in snap.begin.items() if part_of(n) == "vision_tower"}
    saved = model.state_dict()
    for n, p in tower.items():
        assert torch.equal(saved[n.removeprefix("base_model.model.")], p), n
    assert result.trainable_parameters["vision_tower"] == 0


def test_lora_needs_an_lm_stage(tiny_dataset, tmp_path):
    with pytest.raises(ConfigError):
        run(tiny_dataset, tmp_path, ["stage=align", "lora=true"])
