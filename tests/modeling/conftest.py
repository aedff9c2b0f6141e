"""Tiny pretrained parts saved to tmp dirs (safetensors), so the --vision/--llm/--model paths load offline."""

from __future__ import annotations

from pathlib import Path

import pytest


def save_tiny_vision(kind: str, out: Path) -> Path:
    """A random vision model of `kind` (clip | siglip | vit | dinov2 | clip-dual) + its image processor."""
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPVisionConfig,
        CLIPVisionModel,
        Dinov2Config,
        Dinov2Model,
        SiglipImageProcessor,
        SiglipVisionConfig,
        SiglipVisionModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    crop = {"height": 32, "width": 32}
    if kind == "clip":
        model = CLIPVisionModel(CLIPVisionConfig(image_size=32, patch_size=8, projection_dim=16, **small))
        proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=crop)
    elif kind == "clip-dual":
        text = {"vocab_size": 99, "max_position_embeddings": 16, **small}
        model = CLIPModel(
            CLIPConfig(text_config=text, vision_config={"image_size": 32, "patch_size": 8, **small}, projection_dim=16)
        )
        proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=crop)
    elif kind == "siglip":
        model = SiglipVisionModel(SiglipVisionConfig(image_size=32, patch_size=8, vision_use_head=False, **small))
        proc = SiglipImageProcessor(size=crop)
    elif kind == "vit":
        model = ViTModel(ViTConfig(image_size=32, patch_size=8, **small), add_pooling_layer=False)
        proc = ViTImageProcessor(size=crop)
    elif kind == "dinov2":
        model = Dinov2Model(Dinov2Config(image_size=32, patch_size=8, **small))
        proc = ViTImageProcessor(size=crop, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    else:
        raise ValueError(kind)
    model.save_pretrained(out, safe_serialization=True)
    proc.save_pretrained(out)
    return out


def save_tiny_lm(kind: str, out: Path, hidden: int = 32) -> Path:
    """A random causal LM (llama | gpt2) with a small BPE tokenizer trained in-process; llama gets no template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    words = "what is the shape color a red blue green circle square triangle of in image picture describe".split()
    core.train_from_iterator(
        [" ".join(words)] * 20,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=["<unk>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="<eos>")
    if kind == "llama":
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=len(tok),
                hidden_size=hidden,
                intermediate_size=2 * hidden,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=2,
                max_position_embeddings=512,
                tie_word_embeddings=True,
                eos_token_id=tok.eos_token_id,
            )
        )
    else:
        model = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=len(tok),
                n_embd=32,
                n_layer=2,
                n_head=2,
                n_positions=512,
                eos_token_id=tok.eos_token_id,
                bos_token_id=tok.eos_token_id,
            )
        )
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def parts_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("parts")


@pytest.fixture(scope="session")
def tiny_clip(parts_dir) -> Path:
    return save_tiny_vision("clip", parts_dir / "clip")


@pytest.fixture(scope="session")
def tiny_llama(parts_dir) -> Path:
    return save_tiny_lm("llama", parts_dir / "llama")


@pytest.fixture(scope="session")
def tiny_llama_64(parts_dir) -> Path:
    """Every matrix at least 64 wide (bitsandbytes' 4-bit block), as in any real LM: on CPUs with AVX512-BF16,
    bitsandbytes repacks 4-bit weights for inference and cannot pack narrower ones."""
    return save_tiny_lm("llama", parts_dir / "llama64", hidden=64)


@pytest.fixture(scope="session")
def tiny_gpt2(parts_dir) -> Path:
    return save_tiny_lm("gpt2", parts_dir / "gpt2")
