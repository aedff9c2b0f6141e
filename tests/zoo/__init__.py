"""Tiny random checkpoints of real model families, built in-process (no hub): each carries its family's real
special tokens, processor class and a chat template modelled on the published one. ZOO maps a family name to a
builder `build(out_dir) -> out_dir`; the matrix test runs every vitcli command against each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.zoo.chat_families import CHAT_FAMILIES
from tests.zoo.other_families import OTHER_FAMILIES


def build_vitcli_llava(out: Path) -> Path:
    """vitcli's own composition (SigLIP-style tower + Llama LM, word tokenizer, ChatML), as `vitcli train` saves it."""
    from tests.inference.conftest import save_tiny_llava

    return save_tiny_llava(out, seed=0)


def build_vit_gpt2(out: Path) -> Path:
    """A VisionEncoderDecoder captioner (ViT encoder + GPT-2 decoder), as nlpconnect/vit-gpt2-image-captioning."""
    from tests.inference.conftest import save_vit_gpt2

    return save_vit_gpt2(out)


ZOO: dict[str, Callable[[Path], Path]] = {
    "vitcli-llava": build_vitcli_llava,
    **CHAT_FAMILIES,
    **OTHER_FAMILIES,
    "vision-encoder-decoder": build_vit_gpt2,
}


def assert_answer_logits_give_the_models_loss(model, processor, inputs: dict, labels, loss) -> None:  # noqa: ANN001
    """vitcli trains on logits of the answer positions only (training/answer_loss.py) where the family allows it:
    the loss must equal the family's own loss on full logits. BLIP (label smoothing), GIT (image positions first)
    and encoder-decoders keep full logits; BLIP-2 takes no logits_to_keep."""
    import torch

    from vitcli.training.answer_loss import answer_loss_func, answer_mask, projects_answers_only

    family = model.config.model_type
    assert projects_answers_only(model, processor) == (family not in ("blip", "blip-2", "git", "florence2")), family
    if not projects_answers_only(model, processor):
        return
    with torch.no_grad():
        outputs = model(**inputs, logits_to_keep=answer_mask(labels))
    assert outputs.logits.shape[0] == int(answer_mask(labels).sum())
    sliced = answer_loss_func("token", answers_only=True)(outputs, labels)
    assert torch.allclose(sliced, loss, atol=1e-5), (float(sliced), float(loss))
