"""The tiny chat-family checkpoints load and run with plain transformers, like their published counterparts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from tests.zoo import assert_answer_logits_give_the_models_loss
from tests.zoo.chat_families import CHAT_FAMILIES

# family -> (markers the rendered prompt must contain, suffix it must end with)
MARKERS: dict[str, tuple[tuple[str, ...], str]] = {
    "llava": (("USER: <image>\nWhat colour is the circle?",), "ASSISTANT:"),
    "llava_next": (("[INST] <image>\nWhat colour is the circle?",), " [/INST]"),
    "llava_onevision": (("<|im_start|>user <image>\nWhat colour",), "<|im_end|>\n<|im_start|>assistant\n"),
    "qwen2_vl": (("<|im_start|>system\nYou are a helpful assistant.<|im_end|>",
                  "<|vision_start|><|image_pad|><|vision_end|>What colour"), "<|im_start|>assistant\n"),
    "qwen2_5_vl": (("<|im_start|>system\nYou are a helpful assistant.<|im_end|>",
                    "<|vision_start|><|image_pad|><|vision_end|>What colour"), "<|im_start|>assistant\n"),
    "aya_vision": (("<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|><image>What colour",),
                   "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"),
    "internvl": (("<|im_start|>user\n<IMG_CONTEXT>\nWhat colour",), "<|im_start|>assistant\n"),
    "mistral3": (("<s>[SYSTEM_PROMPT]", "[INST][IMG]What colour"), "[/INST]"),
}  # fmt: skip
ADDS_BOS = {"llava", "llava_next", "aya_vision", "mistral3"}  # Llama/Cohere/Mistral add BOS when encoding; Qwen not


def _image(w: int, h: int, colour: str) -> Image.Image:
    img = Image.new("RGB", (w, h), "white")
    ImageDraw.Draw(img).ellipse([2, 2, w - 3, h - 3], fill=colour)
    return img


def _prompt(processor, question: str) -> str:
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)


@pytest.fixture(scope="module", params=sorted(CHAT_FAMILIES))
def family(request, tmp_path_factory) -> tuple[str, Path]:
    name = request.param
    return name, CHAT_FAMILIES[name](tmp_path_factory.mktemp(name))


@pytest.fixture(scope="module")
def loaded(family):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    name, path = family
    return name, AutoProcessor.from_pretrained(path), AutoModelForImageTextToText.from_pretrained(path).eval()


def test_saved_as_safetensors_with_template(family):
    name, path = family
    assert (path / "model.safetensors").is_file()
    assert (path / "tokenizer.json").is_file()
    assert (path / "chat_template.jinja").is_file() or "chat_template" in (path / "processor_config.json").read_text()


def test_template_renders_family_markers(loaded):
    name, processor, _ = loaded
    text = _prompt(processor, "What colour is the circle?")
    markers, suffix = MARKERS[name]
    for marker in markers:
        assert marker in text, (marker, text)
    assert text.endswith(suffix), text


def test_bos_behaviour(loaded):
    name, processor, model = loaded
    tok = processor.tokenizer
    ids = tok("yes").input_ids
    assert (ids[0] == tok.bos_token_id) == (name in ADDS_BOS), ids
    assert len(tok) == model.config.get_text_config().vocab_size


def _spy_placeholders(model, monkeypatch) -> list[tuple[int, int]]:
    """Record (placeholder tokens in input_ids, image feature rows) each time the model merges image features."""
    inner = model.model
    original = inner.get_placeholder_mask
    seen: list[tuple[int, int]] = []

    def spy(input_ids, *args, image_features=None, **kwargs):
        if image_features is not None:
            feats = torch.cat(list(image_features)) if isinstance(image_features, (list, tuple)) else image_features
            seen.append((int((input_ids == model.config.image_token_id).sum()), feats.numel() // feats.shape[-1]))
        return original(input_ids, *args, image_features=image_features, **kwargs)

    monkeypatch.setattr(inner, "get_placeholder_mask", spy)
    return seen


def test_image_tokens_match_features_and_loss(loaded, monkeypatch):
    _, processor, model = loaded
    inputs = processor(
        text=[_prompt(processor, "What colour is the circle?")], images=[_image(40, 30, "red")], return_tensors="pt"
    )
    seen = _spy_placeholders(model, monkeypatch)
    with torch.no_grad():
        loss = model(**inputs, labels=inputs["input_ids"]).loss
    assert torch.isfinite(loss)
    assert len(seen) == 1 and seen[0][0] == seen[0][1] > 0, seen
    assert_answer_logits_give_the_models_loss(model, processor, dict(inputs), inputs["input_ids"], loss)


def test_batched_generate_left_padded(loaded):
    _, processor, model = loaded
    texts = [
        _prompt(processor, "What colour is the circle?"),
        _prompt(processor, "Describe the shape in the top left of the picture, is there one or two?"),
    ]
    images = [_image(40, 30, "red"), _image(64, 64, "blue")]
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="left")
    mask = inputs["attention_mask"]
    assert mask[:, -1].all() and not mask[:, 0].all(), "expected left padding with different prompt lengths"
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[0] == 2 and 1 <= out.shape[1] - inputs["input_ids"].shape[1] <= 4


def test_outputs_depend_on_image(loaded):
    _, processor, model = loaded
    text = _prompt(processor, "What colour is the circle?")
    logits = []
    for colour in ("red", "blue"):
        inputs = processor(text=[text], images=[_image(48, 48, colour)], return_tensors="pt")
        with torch.no_grad():
            logits.append(model(**inputs).logits[0, -1])
    assert not torch.allclose(logits[0], logits[1], atol=1e-3)
