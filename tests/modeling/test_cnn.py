"""CNN towers: a conv feature map becomes image tokens; the saved run loads once vitcli.modeling.cnn is imported."""

from __future__ import annotations

import torch
from PIL import Image

from vitcli.config import ModelConfig
from vitcli.modeling.compose import compose_model


def test_cnn_tower_composes_trains_a_step_and_reloads(tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import vitcli.modeling.cnn  # noqa: F401  (registers the vitcli_cnn model type)

    cfg = ModelConfig(
        vision_type="cnn",
        image_size=32,
        vision_hidden_size=32,
        vision_num_layers=1,
        text_hidden_size=32,
        text_num_layers=1,
        text_num_heads=2,
        text_intermediate_size=64,
    )
    model, processor = compose_model(cfg, ["what shape is it", "a red circle"])
    text = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat shape is it"}], tokenize=False, add_generation_prompt=True
    )
    batch = processor(images=[Image.new("RGB", (32, 32), "red")], text=[text], return_tensors="pt")
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == 16  # 32 px / stride 8 = 4x4 tokens
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    assert model.model.vision_tower.backbone.embeddings.patch_embeddings.weight.grad is not None
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    again = AutoModelForImageTextToText.from_pretrained(tmp_path)
    batch2 = AutoProcessor.from_pretrained(tmp_path)(
        images=[Image.new("RGB", (32, 32), "red")], text=[text], return_tensors="pt"
    )
    with torch.no_grad():
        assert torch.allclose(again(**batch2).logits, model(**batch).logits, atol=1e-5)
