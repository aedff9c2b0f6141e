"""Batched generation equals one-by-one generation, token for token, for a tiny LLaVA (chat template, left
padding) and a tiny ViT-GPT2 VisionEncoderDecoderModel (no prompt); mixed image sizes and prompt lengths."""

from __future__ import annotations

import pytest
import torch

from vitcli.config import GenerationConfig
from vitcli.inference.caption import open_image_file
from vitcli.inference.generate import (
    decode_rows,
    decoding_kwargs,
    effective_prompt,
    encode_batch,
    generate,
    generate_batch,
    new_token_rows,
)
from vitcli.modeling.adapter import FamilyAdapter
from vitcli.modeling.families import CAPTION_PROMPT
from vitcli.modeling.load import load_for_inference
from vitcli.runtime.errors import ConfigError

PROMPTS = [
    "Describe the image briefly.",
    "what color",
    None,
    "where is the small red square on the left of the picture and what color is it",
    "<image>\nshape",
]


def generated_ids(model, processor, images, prompts, cfg) -> list[list[int]]:
    """The generated token ids of each row, cut at the first stop token (what the text is decoded from)."""
    adapter = FamilyAdapter.for_model(model, processor)
    inputs = encode_batch(model, adapter, images, [effective_prompt(adapter, p) for p in prompts])
    with torch.inference_mode():
        out = model.generate(**inputs, **decoding_kwargs(cfg))
    rows = new_token_rows(model, out, inputs)
    lengths = [n for _, n in decode_rows(model, processor.tokenizer, rows)]
    return [r[:n] for r, n in zip(rows, lengths, strict=True)]


@pytest.fixture(scope="module")
def llava(tiny_llava):
    return load_for_inference(str(tiny_llava), "cpu", torch.float32)


@pytest.fixture(scope="module")
def ved(tiny_ved):
    return load_for_inference(str(tiny_ved), "cpu", torch.float32)


@pytest.fixture(scope="module")
def images(mixed_images):
    return [open_image_file(str(p)) for p in mixed_images]


@pytest.mark.parametrize("which", ["llava", "ved"])
def test_batched_greedy_equals_one_by_one(which, llava, ved, images):
    model, processor = llava if which == "llava" else ved
    prompts = PROMPTS if which == "llava" else [None] * len(images)
    cfg = GenerationConfig(max_new_tokens=12, batch_size=len(images))
    batched = generated_ids(model, processor, images, prompts, cfg)
    single = [generated_ids(model, processor, [im], [p], cfg)[0] for im, p in zip(images, prompts, strict=True)]
    assert batched == single
    assert sum(len(r) for r in batched) >= 4 * len(images)  # the rows say something, not just stop tokens
    by_batch = generate(model, processor, images, prompts, cfg)
    by_one = generate(model, processor, images, prompts, GenerationConfig(max_new_tokens=12, batch_size=1))
    assert [(p.text, p.num_tokens) for p in by_batch] == [(p.text, p.num_tokens) for p in by_one]


def test_prompts_are_padded_on_the_left(llava, images):
    model, processor = llava
    prompts = ["what color", "where is the small red square on the left"]
    inputs = encode_batch(model, FamilyAdapter.for_model(model, processor), images[:2], prompts)
    mask = inputs["attention_mask"]  # (B, T)
    assert mask[0, 0] == 0 and mask[0, -1] == 1 and mask[1].all()


def test_chat_prompt_matches_training_rendering(llava):
    from vitcli.data.chat import build_prompt

    model, processor = llava
    adapter = FamilyAdapter.for_model(model, processor)
    asked = [effective_prompt(adapter, p) for p in ["what color", "<image>\nwhat color", None]]
    assert [adapter.prompt_text(q) for q in asked] == [build_prompt(processor.tokenizer, "what color")] * 2 + [
        build_prompt(processor.tokenizer, CAPTION_PROMPT)
    ]


def test_encoder_decoder_takes_no_prompt(ved, images):
    model, processor = ved
    adapter = FamilyAdapter.for_model(model, processor)
    assert adapter.prompt_text(effective_prompt(adapter, None)) is None
    with pytest.raises(ConfigError, match="no prompt"):
        generate_batch(model, processor, images[:1], ["what is this"], GenerationConfig(max_new_tokens=2))


def test_beams_and_seeded_sampling(llava, images):
    model, processor = llava
    beams = GenerationConfig(max_new_tokens=6, num_beams=3, batch_size=len(images))
    assert [p.text for p in generate(model, processor, images, PROMPTS, beams)] == [
        p.text
        for p in generate(
            model, processor, images, PROMPTS, GenerationConfig(max_new_tokens=6, num_beams=3, batch_size=1)
        )
    ]
    sample = GenerationConfig(max_new_tokens=8, temperature=1.5, top_p=0.9, seed=3, batch_size=2)
    first = [p.text for p in generate(model, processor, images, PROMPTS, sample)]
    assert first == [p.text for p in generate(model, processor, images, PROMPTS, sample)]
