"""The tiny checkpoints of ``other_families`` load and run with plain transformers (nothing from vitcli)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import pytest
import torch
import transformers as tf
from PIL import Image

from tests.zoo import assert_answer_logits_give_the_models_loss
from tests.zoo.other_families import OTHER_FAMILIES

SHORT = "What colour is the circle?"
LONG = "Describe the picture in detail. What is the shape at the top of the image?"


@dataclass(frozen=True)
class Case:
    """How a family is prompted and batched."""

    prompts: tuple[str, str] = (SHORT, LONG)
    chat: bool = False  # render the prompts with the processor's chat template
    markers: tuple[str, ...] = ()  # must appear in the rendered text (chat) or in the input tokens (plain)
    image_token: str | None = None  # placeholder expanded by the processor, one per image feature
    adds_bos: bool = True  # the tokenizer adds BOS ([CLS] for BERT) when encoding
    nested: bool = False  # a batch needs images nested per sample: [[img1], [img2]]
    padding_side: str = "left"
    encode: dict = field(default_factory=dict)  # extra processor kwargs


CASES = {
    "idefics3": Case(
        chat=True, markers=("<|begin_of_text|>User:<image>", "<end_of_utterance>\nAssistant:"), image_token="<image>"
    ),
    "smolvlm": Case(
        chat=True,
        markers=("<|im_start|>User:<image>", "<end_of_utterance>\nAssistant:"),
        image_token="<image>",
        adds_bos=False,
        nested=True,
    ),
    "paligemma": Case(
        prompts=("<image>answer en What colour is the circle?", "<image>caption en"),
        markers=("<image><bos>answer",),
        image_token="<image>",
        adds_bos=False,
    ),  # the processor inserts <bos> after the image tokens
    "gemma3": Case(
        chat=True,
        markers=("<bos><start_of_turn>user\n<start_of_image>", "<end_of_turn>\n", "<start_of_turn>model\n"),
        image_token="<image_soft_token>",
        nested=True,
    ),
    "blip": Case(
        prompts=("a picture of", "there is a red circle on the left of"),
        markers=("[CLS]", "[SEP]"),
        padding_side="right",
    ),
    "blip2": Case(
        prompts=("Question: what colour is the circle? Answer:", "a picture of"),
        markers=("<image>", "</s>"),
        image_token="<image>",
    ),
    # GIT prompts are [CLS] + text without [SEP] (as in the GIT VQA example)
    "git": Case(prompts=(f"[CLS]{SHORT}", f"[CLS]{LONG}"), markers=("[CLS]",), encode={"add_special_tokens": False}),
    "florence2": Case(
        prompts=("<CAPTION>", "<DETAILED_CAPTION>"),
        markers=("<image>", "<s>", "</s>"),
        image_token="<image>",
        padding_side="right",
    ),  # the processor adds <s>/</s> itself
}
ENCODER_DECODER = {"florence2"}


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    """family -> (processor, model), built and loaded once per module."""
    root = tmp_path_factory.mktemp("other_families")

    @cache
    def _load(family: str):
        path = OTHER_FAMILIES[family](root / family)
        return tf.AutoProcessor.from_pretrained(path), tf.AutoModelForImageTextToText.from_pretrained(path).eval()

    return _load


def _images(n: int = 2) -> list[Image.Image]:
    return [Image.new("RGB", (40, 30), (220, 30, 30)), Image.new("RGB", (64, 64), (30, 30, 220))][:n]


def _render(processor, case: Case, prompt: str) -> str:
    if not case.chat:
        return prompt
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True)


def _encode(processor, case: Case, texts: list[str], images: list, **kwargs) -> tf.BatchFeature:
    tok = processor.tokenizer
    kwargs = {**case.encode, **kwargs}
    if tok.bos_token and texts[0].startswith(tok.bos_token) and case.adds_bos:
        kwargs["add_special_tokens"] = False  # the template already holds BOS
    images = [[image] for image in images] if case.nested else images
    tok.padding_side = case.padding_side
    enc = processor(text=texts, images=images, padding=True, return_tensors="pt", **kwargs)
    enc.pop("labels", None)  # PaliGemma always returns (all -100) labels
    return enc


@pytest.mark.parametrize("family", sorted(OTHER_FAMILIES))
def test_prompt_markers_and_image_tokens(load, family):
    processor, model = load(family)
    case, tok = CASES[family], processor.tokenizer
    assert (processor.chat_template is not None) == case.chat
    first = tok("one red circle").input_ids[0]
    assert (first in (tok.bos_token_id, tok.cls_token_id)) == case.adds_bos
    text = _render(processor, case, case.prompts[0])
    enc = _encode(processor, case, [text], _images(1))
    ids = enc["input_ids"][0].tolist()
    shown = text if case.chat else "".join(tok.convert_ids_to_tokens(ids))
    assert all(marker in shown for marker in case.markers), shown
    start = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
    assert ids.count(start) == 1  # exactly one BOS / [CLS]
    with torch.no_grad():
        out = model(**enc)
    assert torch.isfinite(out.logits).all()
    if case.image_token is not None:
        count = ids.count(tok.convert_tokens_to_ids(case.image_token))
        assert count == _expected_image_tokens(family, processor, model.config)


def _expected_image_tokens(family: str, processor, config) -> int:
    if family in ("idefics3", "smolvlm"):
        side = config.vision_config.image_size // config.vision_config.patch_size
        return side * side // config.scale_factor**2
    if family == "paligemma":
        return (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    if family == "gemma3":
        return config.mm_tokens_per_image
    if family == "blip2":
        return config.num_query_tokens
    return processor.num_image_tokens  # florence2: DaViT 4x4 grid + 1 pooled token


@pytest.mark.parametrize("family", sorted(OTHER_FAMILIES))
def test_batched_generate(load, family):
    processor, model = load(family)
    case = CASES[family]
    texts = [_render(processor, case, prompt) for prompt in case.prompts]
    enc = _encode(processor, case, texts, _images())
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    prompt_len = 1 if family in ENCODER_DECODER else enc["input_ids"].shape[1] - (family == "blip")
    new = out[:, prompt_len:]
    assert new.shape[0] == 2 and new.shape[1] >= 1
    assert not torch.equal(new[0], new[1])  # random weights still depend on the input


def _labels(family: str, processor, enc: tf.BatchFeature) -> torch.Tensor:
    tok = processor.tokenizer
    if family == "florence2":  # decoder targets: <s> caption </s>, shifted right by the model
        target = tok(["a red circle", "a blue square on the left"], padding=True, return_tensors="pt")
        return target.input_ids.masked_fill(target.attention_mask == 0, -100)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    image_token = CASES[family].image_token
    if image_token is not None:
        labels[labels == tok.convert_tokens_to_ids(image_token)] = -100
    return labels


@pytest.mark.parametrize("family", sorted(OTHER_FAMILIES))
def test_forward_with_labels(load, family):
    processor, model = load(family)
    case = CASES[family]
    texts = [_render(processor, case, prompt) for prompt in case.prompts]
    if family == "paligemma":  # prefix-LM: the suffix (+ <eos>) is appended and becomes the labels
        enc = processor(
            text=list(texts), images=_images(), suffix=["red", "a blue square"], padding=True, return_tensors="pt"
        )
        labels = enc.pop("labels")
        assert (labels[enc["token_type_ids"] == 0] == -100).all()
    else:
        enc = _encode(processor, case, texts, _images())
        labels = _labels(family, processor, enc)
    with torch.no_grad():
        loss = model(**enc, labels=labels).loss
    assert loss is not None and torch.isfinite(loss)
    assert_answer_logits_give_the_models_loss(model, processor, dict(enc), labels, loss)


@pytest.mark.parametrize("family", sorted(f for f, case in CASES.items() if case.nested))
def test_flat_image_list_is_rejected_where_nesting_is_needed(load, family):
    processor, _ = load(family)
    case = CASES[family]
    texts = [_render(processor, case, prompt) for prompt in case.prompts]
    with pytest.raises(ValueError, match="number of"):  # a flat list is read as 2 images for the first sample
        processor(text=texts, images=_images(), padding=True, return_tensors="pt")
