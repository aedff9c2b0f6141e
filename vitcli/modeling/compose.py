"""Compose a LlavaForConditionalGeneration (vision tower + projector + causal LM) and its LlavaProcessor.
The tiny path builds everything from configs, with a word-level tokenizer made in-process from dataset text.
Loading pretrained parts (hub ids, dirs, GGUF) lives in modeling/load.py."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vitcli.config import ModelConfig
from vitcli.data.records import IMAGE_TOKEN
from vitcli.runtime.errors import ConfigError

PAD, UNK, IM_START, IM_END = "<pad>", "<unk>", "<|im_start|>", "<|im_end|>"
# ChatML, the template used whenever the LM brings none of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_word_tokenizer(texts: Iterable[str], min_count: int = 1):
    """A word-level fast tokenizer over the words in `texts`, with ChatML specials and the <image> token."""
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    split = pre_tokenizers.Whitespace()
    counts = Counter(w for t in texts for w, _ in split.pre_tokenize_str(t.replace(IMAGE_TOKEN, " ")))
    words = ["system", "user", "assistant"] + sorted(w for w, c in counts.items() if c >= min_count)
    specials = [PAD, UNK, IM_START, IM_END, IMAGE_TOKEN]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = split
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces, tidies punctuation
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token=UNK, eos_token=IM_END,
                                  extra_special_tokens={"image_token": IMAGE_TOKEN})
    tok.add_special_tokens({"additional_special_tokens": [IM_START, IM_END, IMAGE_TOKEN]})
    tok.chat_template = CHATML_TEMPLATE
    tok.padding_side = "left"
    return tok


def compose_tiny(cfg: ModelConfig, tokenizer):
    """A randomly initialised SigLIP-style tower + MLP projector + Llama-style LM, sized by `cfg`."""
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = tiny_vision_config(cfg)
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.text_hidden_size, intermediate_size=cfg.text_intermediate_size,
        num_hidden_layers=cfg.text_num_layers, num_attention_heads=cfg.text_num_heads,
        num_key_value_heads=cfg.text_num_heads, max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True, attention_dropout=cfg.dropout,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projector_hidden_act="gelu" if cfg.projector == "mlp2x_gelu" else "linear",
        vision_feature_layer=cfg.vision_feature_layer,
        vision_feature_select_strategy=cfg.vision_feature_select_strategy, tie_word_embeddings=True)
    model = LlavaForConditionalGeneration(config)
    gen = model.generation_config
    gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id, None
    gen.do_sample, gen.max_new_tokens = False, 32
    return model


def tiny_vision_config(cfg: ModelConfig):
    """A random vision tower config. 'swin' halves the token grid once (patch merging): patch_size 4 on a 48 px
    image gives 6x6 image tokens, with the locality bias that lets a from-scratch tower learn shapes quickly."""
    from transformers import SiglipVisionConfig, SwinConfig

    if cfg.vision_type == "swin":
        dim = cfg.vision_hidden_size // 2
        grid = cfg.image_size // cfg.patch_size
        return SwinConfig(image_size=cfg.image_size, patch_size=cfg.patch_size, embed_dim=dim,
                          depths=[cfg.vision_num_layers, cfg.vision_num_layers],
                          num_heads=[max(1, cfg.vision_num_heads // 2), cfg.vision_num_heads],
                          window_size=grid // 2, drop_path_rate=0.0, attention_probs_dropout_prob=cfg.dropout)
    if cfg.vision_type != "siglip":
        raise ConfigError(f"unknown vision_type '{cfg.vision_type}'", "use siglip or swin")
    return SiglipVisionConfig(
        hidden_size=cfg.vision_hidden_size, intermediate_size=cfg.vision_hidden_size * 2,
        num_hidden_layers=cfg.vision_num_layers, num_attention_heads=cfg.vision_num_heads,
        image_size=cfg.image_size, patch_size=cfg.patch_size, vision_use_head=False,
        attention_dropout=cfg.dropout)


def image_tokens_per_side(cfg: ModelConfig) -> int:
    grid = cfg.image_size // cfg.patch_size
    return grid // 2 if cfg.vision_type == "swin" else grid


def build_processor(tokenizer, image_size: int, patch_size: int, select_strategy: str = "full",
                    num_additional_image_tokens: int = 0, image_processor=None):
    """A LlavaProcessor that expands each <image> into one token per patch feature."""
    from transformers import LlavaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    if image_processor is None:
        image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                          vision_feature_select_strategy=select_strategy, chat_template=tokenizer.chat_template,
                          num_additional_image_tokens=num_additional_image_tokens, image_token=IMAGE_TOKEN)


def compose_model(cfg: ModelConfig, train_texts: Iterable[str]) -> tuple[Any, Any]:
    """(model, processor) for training. Today: the tiny random composition, with a word-level tokenizer built from
    `train_texts`. Pretrained towers/LMs (--vision/--llm/--model) plug in here."""
    tokenizer = build_word_tokenizer(train_texts)
    token_patch = cfg.image_size // image_tokens_per_side(cfg)  # pixels per image token
    processor = build_processor(tokenizer, cfg.image_size, token_patch, cfg.vision_feature_select_strategy)
    return compose_tiny(cfg, tokenizer), processor
