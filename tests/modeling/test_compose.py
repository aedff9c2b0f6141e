"""compose_model from pretrained parts: towers, LMs (incl. one without a chat template), --model continuation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from tests.modeling.conftest import save_tiny_vision
from vitcli.config import ModelConfig
from vitcli.data.records import IMAGE_TOKEN
from vitcli.modeling.compose import compose_model
from vitcli.runtime.errors import ConfigError, ModelError

MESSAGES = [{"role": "user", "content": f"{IMAGE_TOKEN}\nwhat is the shape"}]


def run_once(model, processor):
    text = processor.tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    batch = processor(images=[Image.new("RGB", (40, 50), "red")], text=[text], return_tensors="pt")
    with torch.no_grad():
        return batch, model(**batch).logits


@pytest.mark.parametrize(
    "kind,strategy,expected_tokens",
    [
        ("clip", "default", 16),
        ("clip", "full", 17),
        ("clip-dual", "default", 16),
        ("siglip", "default", 16),
        ("dinov2", "full", 17),
    ],
)
def test_pretrained_tower_token_layout_and_plain_reload(
    kind, strategy, expected_tokens, parts_dir, tiny_llama, tmp_path
):
    from transformers import AutoModel, AutoModelForImageTextToText, AutoProcessor

    vision = parts_dir / kind
    if not vision.exists():
        save_tiny_vision(kind, vision)
    cfg = ModelConfig(
        vision=str(vision),
        llm=str(tiny_llama),
        vision_feature_select_strategy=strategy,
        vision_feature_layer=-2,
        projector="linear",
    )
    model, processor = compose_model(cfg, [])
    batch, logits = run_once(model, processor)
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert int((batch["input_ids"] == image_id).sum()) == expected_tokens  # 32 px / 8 px patches = 16 (+ CLS)
    source = AutoModel.from_pretrained(vision)
    source = getattr(source, "vision_model", source)
    tower = model.model.vision_tower
    tower = getattr(tower, "vision_model", tower)
    for name, p in source.state_dict().items():
        assert torch.equal(p, tower.state_dict()[name]), name
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    again, again_processor = (
        AutoModelForImageTextToText.from_pretrained(tmp_path),
        AutoProcessor.from_pretrained(tmp_path),
    )
    assert torch.allclose(run_once(again, again_processor)[1], logits, atol=1e-5)


def test_lm_weights_and_template_kept(tiny_llama, tiny_clip):
    from transformers import AutoModelForCausalLM

    model, processor = compose_model(ModelConfig(vision=str(tiny_clip), llm=str(tiny_llama)), [])
    lm = AutoModelForCausalLM.from_pretrained(tiny_llama)
    ours = model.model.language_model.state_dict()
    for name, p in lm.model.state_dict().items():
        if name != "embed_tokens.weight":
            assert torch.equal(p, ours[name]), name
    n = lm.model.embed_tokens.weight.shape[0]
    assert torch.equal(ours["embed_tokens.weight"][:n], lm.model.embed_tokens.weight)  # rows added for <image>
    tok = processor.tokenizer
    assert tok.pad_token is not None and "<|im_start|>" in tok.chat_template  # no template of its own -> ChatML
    assert tok.convert_tokens_to_ids(IMAGE_TOKEN) == model.config.image_token_id
    assert IMAGE_TOKEN in tok.tokenize(f"a {IMAGE_TOKEN} b")  # one unsplit token


def test_gpt2_lm_and_vit_tower_untied_head(parts_dir, tiny_gpt2):
    vit = save_tiny_vision("vit", parts_dir / "vit-gpt2")
    model, processor = compose_model(ModelConfig(vision=str(vit), llm=str(tiny_gpt2)), [])
    assert model.lm_head.weight is not model.get_input_embeddings().weight
    assert not model.config.tie_word_embeddings
    _, logits = run_once(model, processor)
    assert logits.shape[-1] >= len(processor.tokenizer)


def test_random_tower_with_pretrained_lm(tiny_llama):
    cfg = ModelConfig(
        llm=str(tiny_llama), image_size=32, patch_size=8, vision_hidden_size=32, vision_num_layers=1, vision_num_heads=2
    )
    model, processor = compose_model(cfg, [])
    batch, _ = run_once(model, processor)
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == 16


def test_continue_from_saved_vlm(tiny_llama, tiny_clip, tmp_path):
    model, processor = compose_model(ModelConfig(vision=str(tiny_clip), llm=str(tiny_llama)), [])
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    again, again_processor = compose_model(ModelConfig(model=str(tmp_path)), [])
    assert torch.allclose(run_once(again, again_processor)[1], run_once(model, processor)[1], atol=1e-5)


def test_bad_inputs_fail_loudly(tmp_path, tiny_llama):
    with pytest.raises(ConfigError):
        compose_model(ModelConfig(projector="qformer"), [])
    with pytest.raises(ModelError):
        compose_model(ModelConfig(llm=str(tmp_path / "missing.gguf")), [])
    with pytest.raises(ModelError):
        compose_model(ModelConfig(model=str(tmp_path)), [])  # a folder without config.json
    with pytest.raises(ConfigError):
        compose_model(ModelConfig(model=str(tmp_path), llm=str(tiny_llama)), [])


def test_random_tower_starts_with_2d_sincos_positions():
    from vitcli.modeling.compose import sincos_2d_

    cfg = dict(image_size=32, patch_size=8, vision_hidden_size=32, vision_num_layers=1, vision_num_heads=2)
    model, _ = compose_model(ModelConfig(**cfg), ["a red circle"])
    pos = model.model.vision_tower.embeddings.position_embedding.weight.detach()  # (16 patches, 32)
    assert pos.shape == (16, 32)
    rows, cols = pos[:, :16].reshape(4, 4, 16), pos[:, 16:].reshape(4, 4, 16)
    assert torch.equal(rows[:, 0], rows[:, 3]) and torch.equal(cols[0], cols[3])  # row code ignores the column
    assert not torch.equal(rows[0, 0], rows[1, 0]) and not torch.equal(cols[0, 0], cols[0, 1])
    random_model, _ = compose_model(ModelConfig(**cfg, vision_position_init="random"), ["a red circle"])
    other = random_model.model.vision_tower.embeddings.position_embedding.weight.detach()
    other_rows = other[:, :16].reshape(4, 4, 16)
    assert not torch.equal(other_rows[:, 0], other_rows[:, 3])
    odd = torch.zeros(15, 32)
    sincos_2d_(odd)  # not a square grid: left as it was
    assert not odd.any()
