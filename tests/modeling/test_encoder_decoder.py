"""--arch encoder-decoder: a ViT + GPT-2 VisionEncoderDecoder trains on caption rows, saves, and loads for captioning."""

from __future__ import annotations

import torch

from vitcli.config import build_train_config
from vitcli.training.run import train


def test_encoder_decoder_trains_saves_and_captions(tiny_dataset, tmp_path):
    from PIL import Image

    from vitcli.config import GenerationConfig
    from vitcli.inference.generate import generate
    from vitcli.modeling.load import load_for_inference

    out = tmp_path / "run"
    cfg = build_train_config("test", None, ["model.arch=encoder-decoder", "stage=full"],
                             {"data": str(tiny_dataset), "output": str(out), "device": "cpu", "max_steps": 3})
    result = train(cfg)
    assert result.global_step == 3 and result.final_loss == result.final_loss  # not NaN
    assert result.trainable_parameters["multi_modal_projector"] > 0  # cross-attention is the bridge
    model, processor = load_for_inference(str(out), "cpu", torch.float32)
    assert type(model).__name__ == "VisionEncoderDecoderModel"
    preds = generate(model, processor, [Image.new("RGB", (32, 32), "red")], [None],
                     GenerationConfig(max_new_tokens=4))
    assert len(preds) == 1 and isinstance(preds[0].text, str)


def test_encoder_decoder_align_trains_only_cross_attention(tiny_dataset, tmp_path):
    from tests.modeling.test_freeze import Snapshot
    from vitcli.modeling.freeze import part_of

    cfg = build_train_config("test", None, ["model.arch=encoder-decoder", "stage=align", "learning_rate=0.01"],
                             {"data": str(tiny_dataset), "output": str(tmp_path / "r"), "device": "cpu",
                              "max_steps": 2})
    snap = Snapshot()
    train(cfg, callbacks=[snap])
    changed = {n for n in snap.begin if not torch.equal(snap.begin[n], snap.end[n])}
    assert changed and {part_of(n, encoder_decoder=True) for n in changed} == {"multi_modal_projector"}
