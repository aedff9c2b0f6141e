"""CNN towers: a conv feature map becomes image tokens; saved CNN runs load through modeling/load.py (which registers
vitcli's model types) in a fresh process, with no extra import; the pretrained EfficientNet-Lite0 tower composes into
Llava with its ImageNet weights intact; an unknown model type is a one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from PIL import Image
from typer.testing import CliRunner

from tests import efficientnet_lite0
from vitcli.config import ModelConfig
from vitcli.modeling.compose import compose_model

TINY_LM = {"text_hidden_size": 32, "text_num_layers": 1, "text_num_heads": 2, "text_intermediate_size": 64}


def test_cnn_tower_composes_trains_a_step_and_captions_in_a_fresh_process(tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cfg = ModelConfig(vision_type="cnn", image_size=32, vision_hidden_size=32, vision_num_layers=1, **TINY_LM)
    model, processor = compose_model(cfg, ["what shape is it", "a red circle"])
    text = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat shape is it"}], tokenize=False, add_generation_prompt=True
    )
    batch = processor(images=[Image.new("RGB", (32, 32), "red")], text=[text], return_tensors="pt")
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == 16  # 32 px / stride 8 = 4x4 tokens
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    assert model.model.vision_tower.backbone.embeddings.patch_embeddings.weight.grad is not None
    run = tmp_path / "cnn-run"
    model.save_pretrained(run)
    processor.save_pretrained(run)
    assert json.loads((run / "config.json").read_text())["vision_config"]["model_type"] == "vitcli_cnn"
    again = AutoModelForImageTextToText.from_pretrained(run)
    batch2 = AutoProcessor.from_pretrained(run)(
        images=[Image.new("RGB", (32, 32), "red")], text=[text], return_tensors="pt"
    )
    with torch.no_grad():
        assert torch.allclose(again(**batch2).logits, model(**batch).logits, atol=1e-5)
    # A fresh process has imported nothing of this test's: `vitcli caption` must register vitcli_cnn by itself.
    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), "red").save(image)
    cmd = [sys.executable, "-m", "vitcli", "caption", "--model", str(run), str(image), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["image"].endswith("red.png") and isinstance(row["text"], str)


def test_unknown_model_type_is_one_error_line_with_a_hint(tmp_path):
    import transformers

    from vitcli.cli.app import app

    top, nested = tmp_path / "top", tmp_path / "nested"
    for folder, config in (
        (top, {"model_type": "no_such_model"}),
        (nested, {"model_type": "llava", "vision_config": {"model_type": "no_such_tower"}}),
    ):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), "red").save(image)
    for folder, kind in ((top, "no_such_model"), (nested, "no_such_tower")):
        res = CliRunner().invoke(app, ["caption", "--model", str(folder), str(image)])
        assert res.exit_code == 1, res.output
        lines = [line for line in res.output.splitlines() if line.strip()]
        known = f"a type neither transformers {transformers.__version__} nor vitcli knows"
        assert lines[0] == f"Error: '{folder}' is a '{kind}' model, {known}"
        assert lines[1].startswith("Hint: upgrade transformers") and len(lines) == 2
        assert "albert" not in res.output  # not transformers' list of every model type


def test_efficientnet_lite0_is_a_pretrained_llava_tower(tmp_path):
    from skimage import data
    from transformers import AutoModelForImageClassification

    from vitcli.modeling.load import load_model

    folder = efficientnet_lite0.lite0_converted()
    model, processor = compose_model(ModelConfig(vision=str(folder), **TINY_LM), ["what animal is it", "a cat"])
    assert model.config.vision_config.model_type == "vitcli_cnn" and model.config.vision_config.hidden_size == 1280
    text = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat animal is it"}], tokenize=False, add_generation_prompt=True
    )
    batch = processor(images=[Image.fromarray(data.chelsea())], text=[text], return_tensors="pt")
    assert batch["pixel_values"].shape == (1, 3, 224, 224)
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == 49  # 224 px / stride 32 = 7x7 tokens
    classifier = AutoModelForImageClassification.from_pretrained(folder).eval()
    model.eval()
    with torch.no_grad():
        tokens = model.model.vision_tower(batch["pixel_values"]).last_hidden_state  # (1, 49, 1280)
        reference = classifier.efficientnet(batch["pixel_values"]).last_hidden_state.flatten(2).transpose(1, 2)
        cat = classifier.classifier(tokens.mean(1)).argmax(-1).item()  # the tower inside Llava still sees a cat
        logits = model(**batch).logits
    assert torch.equal(tokens, reference)
    assert cat in efficientnet_lite0.CAT_CLASSES
    model.save_pretrained(tmp_path / "run")
    processor.save_pretrained(tmp_path / "run")
    again, _ = load_model(str(tmp_path / "run"), torch.float32)
    with torch.no_grad():
        assert torch.allclose(again.eval()(**batch).logits, logits, atol=1e-5)


def test_vision_image_size_resizes_a_pretrained_cnn_tower_and_its_token_grid(tmp_path):
    from vitcli.modeling.load import load_model
    from vitcli.runtime.errors import ConfigError

    folder = str(efficientnet_lite0.lite0_converted())
    model, processor = compose_model(ModelConfig(vision=folder, vision_image_size=96, **TINY_LM), ["what", "a cat"])
    text = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat"}], tokenize=False, add_generation_prompt=True
    )
    batch = processor(images=[Image.new("RGB", (300, 200), "red")], text=[text], return_tensors="pt")
    assert batch["pixel_values"].shape == (1, 3, 96, 96)
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == 9  # 96 px / stride 32 = 3x3 tokens
    model.save_pretrained(tmp_path / "run")
    processor.save_pretrained(tmp_path / "run")
    again, saved = load_model(str(tmp_path / "run"), torch.float32)  # the size travels with the saved processor
    assert saved(images=[Image.new("RGB", (50, 50))], text=[text], return_tensors="pt")["pixel_values"].shape[-1] == 96
    for cfg in (ModelConfig(vision_type="cnn", vision_image_size=96, **TINY_LM), ModelConfig(vision_image_size=96)):
        try:
            compose_model(cfg, ["what"])
        except ConfigError as error:
            assert "vision_image_size" in str(error)
        else:
            raise AssertionError(f"{cfg.vision_type} tower accepted model.vision_image_size")


def test_vision_feature_layer_picks_an_earlier_cnn_stage_as_image_tokens(tmp_path):
    """Earlier Lite0 stages keep colour that its ImageNet head discards; the token grid and the projector's input width
    follow the chosen map, checked against the classifier's own trunk run outside vitcli."""
    from transformers import AutoModelForImageClassification

    from vitcli.modeling.load import load_model
    from vitcli.runtime.errors import ConfigError

    folder = str(efficientnet_lite0.lite0_converted())
    trunk = AutoModelForImageClassification.from_pretrained(folder).eval().efficientnet
    text = "<image>\nwhat"
    for layer, channels, tokens in ((-4, 192, 9), (-7, 112, 36)):  # stride 32 -> 3x3, stride 16 -> 6x6 at 96 px
        cfg = ModelConfig(vision=folder, vision_image_size=96, vision_feature_layer=layer, **TINY_LM)
        model, processor = compose_model(cfg, ["what", "a cat"])
        prompt = processor.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        batch = processor(images=[Image.new("RGB", (80, 80), "orange")], text=[prompt], return_tensors="pt")
        assert model.config.vision_config.hidden_size == channels
        assert int((batch["input_ids"] == model.config.image_token_id).sum()) == tokens
        model.eval()
        with torch.no_grad():
            expected = trunk(batch["pixel_values"], output_hidden_states=True).hidden_states[layer]
            got = model.model.vision_tower(batch["pixel_values"], output_hidden_states=True).hidden_states[layer]
            logits = model(**batch).logits
        assert torch.equal(got, expected.flatten(2).transpose(1, 2))
    model.save_pretrained(tmp_path / "run")
    processor.save_pretrained(tmp_path / "run")
    again, _ = load_model(str(tmp_path / "run"), torch.float32)
    assert again.config.vision_feature_layer == -7
    with torch.no_grad():
        assert torch.allclose(again.eval()(**batch).logits, logits, atol=1e-5)
    try:
        compose_model(ModelConfig(vision=folder, vision_feature_layer=-40, **TINY_LM), ["what"])
    except ConfigError as error:
        assert "out of range" in str(error) and "-18" in error.hint
    else:
        raise AssertionError("vision_feature_layer=-40 was accepted")
