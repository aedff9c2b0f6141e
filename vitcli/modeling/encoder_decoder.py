"""The seed architecture: a VisionEncoderDecoderModel (ViT-style encoder + GPT-2-style decoder with cross-attention,
as nlpconnect/vit-gpt2-image-captioning), composed from pretrained or random parts, and its ImageOnlyProcessor.
It captions images without a prompt; the model-family adapter (modeling/adapter.py) encodes its training batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vitcli.config import ModelConfig
from vitcli.runtime.errors import ModelError


def compose_encoder_decoder(cfg: ModelConfig, train_texts: Iterable[str]) -> tuple[Any, Any]:
    """(VisionEncoderDecoderModel, ImageOnlyProcessor): `cfg.model` continues one; else `cfg.vision` / `cfg.llm` give
    pretrained parts (the decoder gains randomly initialised cross-attention) and random ones fill the rest."""
    import torch
    from transformers import GenerationConfig, VisionEncoderDecoderModel

    from vitcli.modeling.load import ImageOnlyProcessor

    encoder, image_processor = build_encoder(cfg)
    decoder, tokenizer = build_decoder(cfg, train_texts)
    if not any("crossattention" in n or "cross_attn" in n for n, _ in decoder.named_modules()):
        raise ModelError(
            f"the decoder '{cfg.llm}' has no cross-attention layers",
            "use a GPT-2-style decoder (gpt2, distilgpt2) with --arch encoder-decoder",
        )
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder)
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    model.config.decoder_start_token_id = start
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=start,
        do_sample=False,
        max_new_tokens=32,
    )
    return model.to(torch.float32), ImageOnlyProcessor(image_processor, tokenizer)


def build_encoder(cfg: ModelConfig) -> tuple[Any, Any]:
    """Pretrained tower (dual encoders give their vision half) or a random ViT sized by cfg."""
    from transformers import AutoModel, ViTConfig, ViTImageProcessor

    if cfg.vision:
        from vitcli.modeling.pretrained import load_vision_tower

        tower = load_vision_tower(cfg.vision, -1)
        return tower.module, tower.image_processor
    config = ViTConfig(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        hidden_size=cfg.vision_hidden_size,
        num_hidden_layers=cfg.vision_num_layers,
        num_attention_heads=cfg.vision_num_heads,
        intermediate_size=cfg.vision_hidden_size * 2,
        attention_probs_dropout_prob=cfg.dropout,
    )
    size = {"height": cfg.image_size, "width": cfg.image_size}
    return AutoModel.from_config(config), ViTImageProcessor(size=size)


def build_decoder(cfg: ModelConfig, train_texts: Iterable[str]) -> tuple[Any, Any]:
    """Pretrained causal LM with cross-attention added (safetensors), or a random GPT-2 on a word tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

    if cfg.llm:
        from vitcli.modeling.pretrained import _from_pretrained

        config = _from_pretrained(AutoConfig, cfg.llm, "decoder config")
        config.is_decoder, config.add_cross_attention = True, True
        tokenizer = _from_pretrained(AutoTokenizer, cfg.llm, "tokenizer")
        decoder = _from_pretrained(
            AutoModelForCausalLM, cfg.llm, "decoder", config=config, use_safetensors=True, dtype=torch.float32
        )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return decoder, tokenizer
    from vitcli.modeling.word_tokenizer import build_word_tokenizer

    tokenizer = build_word_tokenizer(train_texts)
    tokenizer.padding_side = "right"
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=cfg.text_hidden_size,
        n_layer=cfg.text_num_layers,
        n_head=cfg.text_num_heads,
        n_inner=cfg.text_intermediate_size,
        n_positions=cfg.max_position_embeddings,
        add_cross_attention=True,
        is_decoder=True,
        attn_pdrop=cfg.dropout,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config), tokenizer
