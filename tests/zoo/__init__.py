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
    import torch

    from tests.zoo.chat_families import _WORDS
    from vitcli.config import ModelConfig
    from vitcli.modeling.compose import build_processor, build_word_tokenizer, compose_tiny

    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=32,
        patch_size=8,
        vision_hidden_size=32,
        vision_num_layers=1,
        vision_num_heads=2,
        text_hidden_size=32,
        text_num_layers=2,
        text_num_heads=2,
        text_intermediate_size=64,
    )
    tok = build_word_tokenizer([" ".join(_WORDS) if not isinstance(_WORDS, str) else _WORDS])
    model = compose_tiny(cfg, tok)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    model.save_pretrained(out)
    build_processor(tok, cfg.image_size, cfg.patch_size).save_pretrained(out)
    return out


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
