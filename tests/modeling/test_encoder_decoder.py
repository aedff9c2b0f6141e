"""--arch encoder-decoder: a ViT + GPT-2 VisionEncoderDecoder trains on caption rows, saves, and loads for
captioning."""

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
    cfg = build_train_config(
        "test",
        None,
        ["model.arch=encoder-decoder", "stage=full"],
        {"data": str(tiny_dataset), "output": str(out), "device": "cpu", "max_steps": 3},
    )
    result = train(cfg)
    assert result.global_step == 3 and result.final_loss == result.final_loss  # not NaN
    assert result.trainable_parameters["multi_modal_projector"] > 0  # cross-attention is the bridge
    model, processor = load_for_inference(str(out), "cpu", torch.float32)
    assert type(model).__name__ == "VisionEncoderDecoderModel"
    image = Image.new("RGB", (32, 32), "red")
    preds = generate(model, processor, [image], [None], GenerationConfig(max_new_tokens=4))
    assert len(preds) == 1 and preds[0].prompt is None and preds[0].num_tokens <= 4  # image-only, capped
    pixels = processor.image_processor(images=image, return_tensors="pt")["pixel_values"]
    plain = model.generate(pixel_values=pixels, max_new_tokens=4, do_sample=False)  # transformers alone
    assert preds[0].text == processor.tokenizer.decode(plain[0], skip_special_tokens=True).strip()


def test_encoder_decoder_align_trains_only_cross_attention(tiny_dataset, tmp_path):
    from tests.modeling.test_freeze import Snapshot
    from vitcli.modeling.freeze import part_of

    cfg = build_train_config(
        "test",
        None,
        ["model.arch=encoder-decoder", "stage=align", "learning_rate=0.01"],
        {"data": str(tiny_dataset), "output": str(tmp_path / "r"), "device": "cpu", "max_steps": 2},
    )
    snap = Snapshot()
    train(cfg, callbacks=[snap])
    changed = {n for n in snap.begin if not torch.equal(snap.begin[n], snap.end[n])}
    assert changed and {part_of(n, encoder_decoder=True) for n in changed} == {"multi_modal_projector"}
