"""Inference fixtures: a tiny random LLaVA and a tiny ViT+GPT-2 VisionEncoderDecoderModel, each saved to a tmp
folder the way a checkpoint on disk looks, and a few images of mixed sizes. Everything is built in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

WORDS = (
    "a red blue green square circle triangle on the left right top bottom of image small large "
    "there is one two three shape color what where describe briefly picture"
).split()


def save_images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    """Noise PNGs of the given (width, height) sizes: img0.png, img1.png, ..."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (w, h) in enumerate(sizes):
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def make_images():
    """save_images, for tests that need their own image files."""
    return save_images


@pytest.fixture(scope="session")
def mixed_images(tmp_path_factory) -> list[Path]:
    return save_images(tmp_path_factory.mktemp("images"), [(32, 32), (48, 20), (17, 64), (80, 60), (33, 33)])


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> Path:
    return save_tiny_llava(tmp_path_factory.mktemp("models") / "llava", seed=3)


def save_tiny_llava(out: Path, seed: int = 3) -> Path:
    """A random LLaVA (SigLIP tower + Llama LM, ChatML template, left padding) saved with its processor, as
    `vitcli train` saves one. Weights use a wide init so greedy outputs vary with the image and prompt; seed 3 is one
    where no row of the batched-equals-one-by-one test stops at its first token."""
    import torch

    from vitcli.config import ModelConfig
    from vitcli.modeling.compose import build_processor, build_word_tokenizer, compose_tiny

    torch.manual_seed(seed)
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
    tok = build_word_tokenizer([" ".join(WORDS)])
    model = compose_tiny(cfg, tok)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    model.save_pretrained(out)
    build_processor(tok, cfg.image_size, cfg.patch_size).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_ved(tmp_path_factory) -> Path:
    return save_vit_gpt2(tmp_path_factory.mktemp("models") / "vit-gpt2")


def save_vit_gpt2(out: Path) -> Path:
    """A random ViT encoder + GPT-2 decoder (cross-attention) like nlpconnect/vit-gpt2, with its tokenizer and
    ViTImageProcessor, saved like a hub checkpoint (no processor class, no chat template)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, PreTrainedTokenizerFast, VisionEncoderDecoderConfig, ViTConfig
    from transformers import VisionEncoderDecoderModel as VED
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(0)
    vocab = {"<|endoftext|>": 0, "<unk>": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<unk>"
    )
    enc = ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
    )
    dec = GPT2Config(
        vocab_size=len(vocab),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
        add_cross_attention=True,
        is_decoder=True,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 0, 0, 0
    model = VED(config=config)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    gen = model.generation_config
    gen.decoder_start_token_id, gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = 0, 0, 0, 0
    model.save_pretrained(out)
    tok.save_pretrained(out)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(out)
    return out
