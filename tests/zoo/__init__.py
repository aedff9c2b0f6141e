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
