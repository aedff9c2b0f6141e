"""Tiny random checkpoints of real chat VLM families, built offline and in-process, for tests.

Each builder writes a random model of the real transformers class plus its real processor class (tokenizer built
here with the family's real special tokens and BOS behaviour, image processor, chat template modelled on the
published one) to ``out`` with ``save_pretrained``, so that ``AutoProcessor`` / ``AutoModelForImageTextToText``
load it like the published checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

if TYPE_CHECKING:
    from transformers import PreTrainedConfig, PreTrainedModel, ProcessorMixin, TokenizersBackend

Builder = Callable[[Path], Path]

#: family name (transformers model_type) -> builder; filled by ``@_family`` below.
CHAT_FAMILIES: dict[str, Builder] = {}


def _family(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        CHAT_FAMILIES[name] = fn
        return fn

    return register


# ---------------------------------------------------------------------------------------------------------------------
# Tokenizers: a small BPE trained on a few hundred words, wrapped in the family's tokenizer class.

_WORDS = (
    "what is the shape colour color a red blue green circle square triangle of in image picture describe left right "
    "top bottom yes no one two three there and it this that on at with small big large tiny dark light white black "
    "yellow orange purple grey gray background foreground center middle corner edge above below next to near far "
    "how many are do does can you see show tell me answer question object objects scene photo look looks like has "
    "have two three four five six seven eight nine ten only both each other some all none more less than which where "
    "why who when please thanks hello assistant user system helpful model vision language text token drawn shapes"
).split()


def _corpus() -> list[str]:
    """Deterministic English-ish sentences over the word list (plus punctuation, digits and capitals)."""
    n = len(_WORDS)
    lines = [" ".join(_WORDS[i : i + 8]) for i in range(0, n, 8)]
    for i in range(n):
        a, b, c = _WORDS[i], _WORDS[(7 * i + 3) % n], _WORDS[(13 * i + 5) % n]
        lines.append(f"{a.capitalize()} {b} {c}? The {c} is {a}, {i % 10} {b}. Describe: {a} {c}!")
    return lines


def _train_bpe(pre_tokenizer: pre_tokenizers.PreTokenizer, vocab_size: int, alphabet: list[str]) -> tuple[list, list]:
    """Train a BPE over the corpus; returns (pieces in id order, merges)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(_corpus(), trainer)
    model = json.loads(tok.to_str())["model"]
    pieces = sorted(model["vocab"], key=model["vocab"].get)
    return pieces, [tuple(m) for m in model["merges"]]


def _vocab(*groups: list[str]) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for group in groups:
        for tok in group:
            vocab.setdefault(tok, len(vocab))
    return vocab


def _sentencepiece_bpe(head: list[str], tail: list[str]) -> tuple[dict[str, int], list]:
    """Llama/Mistral sentencepiece-style BPE: specials, the 256 <0xNN> byte-fallback pieces, then '▁'-pieces."""
    pieces, merges = _train_bpe(pre_tokenizers.Metaspace(split=True), 640, ["▁"])
    return _vocab(head, [f"<0x{b:02X}>" for b in range(256)], pieces, tail), merges


def _byte_level_bpe(head: list[str], tail: list[str]) -> tuple[dict[str, int], list]:
    """GPT-2 style byte-level BPE (Qwen, Cohere, Mistral tekken)."""
    pieces, merges = _train_bpe(
        pre_tokenizers.ByteLevel(add_prefix_space=False), 800, pre_tokenizers.ByteLevel.alphabet()
    )
    return _vocab(head, pieces, tail), merges


_QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip


def _qwen_tokenizer(extra: Sequence[str] = (), **special: str) -> TokenizersBackend:
    """Qwen2Tokenizer (no BOS added); ChatML specials after the vocab, as in Qwen2's tokenizer.json."""
    from transformers import Qwen2Tokenizer

    specials = _QWEN_SPECIALS + [t for t in extra if t not in _QWEN_SPECIALS]
    vocab, merges = _byte_level_bpe([], specials)
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>", **special)
    tok.add_special_tokens({"extra_special_tokens": specials[1:]}, replace_extra_special_tokens=False)
    return tok


def _llama_tokenizer() -> TokenizersBackend:
    """LlamaTokenizer (adds BOS `<s>`), with `<image>` and `<pad>` appended as llava-hf does."""
    from transformers import LlamaTokenizer

    vocab, merges = _sentencepiece_bpe(["<unk>", "<s>", "</s>"], ["<image>", "<pad>"])
    return LlamaTokenizer(
        vocab=vocab,
        merges=merges,
        pad_token="<pad>",
        image_token="<image>",
        add_bos_token=True,
        padding_side="left",
    )


# ---------------------------------------------------------------------------------------------------------------------
# Models: tiny configs, wide random weights, saved with the processor.

_LM = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
       "num_key_value_heads": 2, "max_position_embeddings": 1024}  # fmt: skip
_VIT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def _lm(tok: TokenizersBackend, **kw) -> dict:
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    return {**_LM, "vocab_size": len(tok), **ids, **kw}


def _randomize(model: torch.nn.Module, std: float = 0.3) -> None:
    """Wide normal init for matrices so greedy outputs depend on the image and prompt."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, std)


def _save(
    model_cls: type[PreTrainedModel],
    config: PreTrainedConfig,
    processor: ProcessorMixin,
    out: Path,
    eos: list[int] | None = None,
) -> Path:
    torch.manual_seed(0)
    model = model_cls(config).eval()
    _randomize(model)
    tok = processor.tokenizer
    gen = model.generation_config
    gen.eos_token_id = eos or tok.eos_token_id
    gen.pad_token_id = tok.pad_token_id
    gen.bos_token_id = tok.bos_token_id
    gen.do_sample = False
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Chat templates, modelled on the published ones (structure kept, defaults shortened where long).

_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_LLAVA_NEXT_MISTRAL_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{% generation %}{{ message['content'][0]['text'] + '</s>'}}"
    "{% endgeneration %}{% endif %}{% endfor %}"
)

_ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ '\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}"
    "{{'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_AYA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] if messages[0]['content'] is string "
    "else messages[0]['content'][0]['text'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}"
    "{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message "
    "+ '<|END_OF_TURN_TOKEN|>' }}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>' }}{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '<|END_OF_TURN_TOKEN|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
)

_INTERNVL_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}"
    "{{ '<video>\n' }}{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

_MISTRAL3_TEMPLATE = (
    "{%- set default_system_message = 'You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI.' %}"
    "{{- bos_token }}{%- if messages[0]['role'] == 'system' %}"
    "{%- if messages[0]['content'] is string %}{%- set system_message = messages[0]['content'] %}"
    "{%- else %}{%- set system_message = messages[0]['content'][0]['text'] %}{%- endif %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set system_message = default_system_message %}"
    "{%- set loop_messages = messages %}{%- endif %}"
    "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}"
    "{%- for message in loop_messages %}{%- if message['role'] == 'user' %}"
    "{%- if message['content'] is string %}{{- '[INST]' + message['content'] + '[/INST]' }}"
    "{%- else %}{{- '[INST]' }}{%- for block in message['content'] %}"
    "{%- if block['type'] == 'text' %}{{- block['text'] }}{%- elif block['type'] in ['image', 'image_url'] %}"
    "{{- '[IMG]' }}{%- else %}{{- raise_exception('Only text and image blocks are supported in message content!') }}"
    "{%- endif %}{%- endfor %}{{- '[/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'system' %}{{- '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}"
    "{%- elif message['role'] == 'assistant' %}{%- if message['content'] is string %}"
    "{{- message['content'] + eos_token }}{%- else %}{{- message['content'][0]['text'] + eos_token }}{%- endif %}"
    "{%- else %}{{- raise_exception('Only user, system and assistant roles are supported!') }}{%- endif %}"
    "{%- endfor %}"
)


# ---------------------------------------------------------------------------------------------------------------------
# Builders.


def _clip(image_size: int, patch_size: int) -> PreTrainedConfig:
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(**_VIT, image_size=image_size, patch_size=patch_size, projection_dim=32)


def _siglip(image_size: int, patch_size: int) -> PreTrainedConfig:
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(**_VIT, image_size=image_size, patch_size=patch_size)


@_family("llava")
def build_llava(out: Path) -> Path:
    """Modelled on llava-hf/llava-1.5-7b-hf: CLIP tower (CLS dropped), Llama LM, "USER: <image>\\n... ASSISTANT:"."""
    from transformers import CLIPImageProcessor, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tok = _llama_tokenizer()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(
        image_processor,
        tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_LLAVA_TEMPLATE,
    )
    config = LlavaConfig(
        vision_config=_clip(32, 8),
        text_config=LlamaConfig(**_lm(tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=16,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    return _save(LlavaForConditionalGeneration, config, processor, out)


@_family("llava_next")
def build_llava_next(out: Path) -> Path:
    """Modelled on llava-hf/llava-v1.6-mistral-7b-hf: anyres tiles (image_sizes), Mistral LM, "[INST] <image>\\n..."."""
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
        MistralConfig,
    )

    tok = _llama_tokenizer()
    pinpoints = [[32, 32], [32, 64], [64, 32]]
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_grid_pinpoints=pinpoints
    )
    processor = LlavaNextProcessor(
        image_processor,
        tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_LLAVA_NEXT_MISTRAL_TEMPLATE,
    )
    config = LlavaNextConfig(
        vision_config=_clip(32, 8),
        text_config=MistralConfig(**_lm(tok), sliding_window=None),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        image_seq_length=16,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    return _save(LlavaNextForConditionalGeneration, config, processor, out)


@_family("llava_onevision")
def build_llava_onevision(out: Path) -> Path:
    """Modelled on llava-hf/llava-onevision-qwen2-0.5b-ov-hf: SigLIP tower, anyres_max_9, Qwen2 LM, ChatML."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
        Qwen2Config,
    )

    tok = _qwen_tokenizer(["<image>", "<video>"], image_token="<image>", video_token="<video>")
    pinpoints = [[32, 32], [32, 64], [64, 32]]
    image_processor = LlavaOnevisionImageProcessor(size={"height": 32, "width": 32}, image_grid_pinpoints=pinpoints)
    video_processor = LlavaOnevisionVideoProcessor(size={"height": 32, "width": 32})
    processor = LlavaOnevisionProcessor(
        image_processor,
        tok,
        video_processor,
        num_image_tokens=16,
        vision_feature_select_strategy="full",
        chat_template=_ONEVISION_TEMPLATE,
    )
    config = LlavaOnevisionConfig(
        vision_config=_siglip(32, 8),
        text_config=Qwen2Config(**_lm(tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
    )
    return _save(LlavaOnevisionForConditionalGeneration, config, processor, out)


def _qwen_vl_ids(tok: TokenizersBackend) -> dict[str, int]:
    names = {"image": "<|image_pad|>", "video": "<|video_pad|>", "vision_start": "<|vision_start|>",
             "vision_end": "<|vision_end|>"}  # fmt: skip
    return {f"{k}_token_id": tok.convert_tokens_to_ids(v) for k, v in names.items()}


def _qwen_vl_processor(processor_cls: type[ProcessorMixin]) -> ProcessorMixin:
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    tok = _qwen_tokenizer()
    pixels = {"min_pixels": 16 * 16, "max_pixels": 64 * 64, "patch_size": 8, "merge_size": 2, "temporal_patch_size": 2}
    image_processor = Qwen2VLImageProcessor(**pixels)
    video_processor = Qwen2VLVideoProcessor(**pixels)
    return processor_cls(image_processor, tok, video_processor, chat_template=_QWEN2_VL_TEMPLATE)


def _qwen_text(tok: TokenizersBackend) -> dict:
    # head_dim 16 -> 8 rotary frequencies split over (temporal, height, width)
    return _lm(
        tok,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e6},
    )


@_family("qwen2_vl")
def build_qwen2_vl(out: Path) -> Path:
    """Modelled on Qwen/Qwen2-VL-2B-Instruct: dynamic resolution (image_grid_thw), M-RoPE, ChatML + system prompt."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    processor = _qwen_vl_processor(Qwen2VLProcessor)
    tok = processor.tokenizer
    vision = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2, "patch_size": 8,
              "spatial_merge_size": 2, "temporal_patch_size": 2}  # fmt: skip
    config = Qwen2VLConfig(text_config=_qwen_text(tok), vision_config=vision, **_qwen_vl_ids(tok))
    eos = [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
    return _save(Qwen2VLForConditionalGeneration, config, processor, out, eos=eos)


@_family("qwen2_5_vl")
def build_qwen2_5_vl(out: Path) -> Path:
    """Modelled on Qwen/Qwen2.5-VL-3B-Instruct: window-attention ViT with full-attention block, same processor."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    processor = _qwen_vl_processor(Qwen2_5_VLProcessor)
    tok = processor.tokenizer
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
              "patch_size": 8, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 32,
              "fullatt_block_indexes": [1]}  # fmt: skip
    config = Qwen2_5_VLConfig(text_config=_qwen_text(tok), vision_config=vision, **_qwen_vl_ids(tok))
    eos = [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
    return _save(Qwen2_5_VLForConditionalGeneration, config, processor, out, eos=eos)


_COHERE_HEAD = ["<PAD>", "<UNK>", "<CLS>", "<SEP>", "<MASK_TOKEN>", "<BOS_TOKEN>", "<EOS_TOKEN>", "<EOP_TOKEN>"]
_AYA_TAIL = [
    "<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>", "<|SYSTEM_TOKEN|>",
    "<|START_OF_IMG|>", "<|END_OF_IMG|>", "<|IMG_PATCH|>", "<|IMG_LINE_BREAK|>",
]  # fmt: skip


@_family("aya_vision")
def build_aya_vision(out: Path) -> Path:
    """Modelled on CohereLabs/aya-vision-8b: SigLIP + pixel-shuffle adapter, Cohere2 LM, <|START_OF_TURN_TOKEN|>."""
    from transformers import (
        AyaVisionConfig,
        AyaVisionForConditionalGeneration,
        AyaVisionProcessor,
        Cohere2Config,
        CohereTokenizer,
        GotOcr2ImageProcessor,
    )

    vocab, merges = _byte_level_bpe(_COHERE_HEAD, _AYA_TAIL)
    # adds <BOS_TOKEN> although the template also renders it (as published); EOS is <|END_OF_TURN_TOKEN|>
    tok = CohereTokenizer(vocab=vocab, merges=merges, add_bos_token=True)
    tok.add_special_tokens({"extra_special_tokens": _AYA_TAIL}, replace_extra_special_tokens=False)
    tok.add_tokens(["TILE", "TILE_GLOBAL"])  # tile markers the processor writes before each tile's patches
    image_processor = GotOcr2ImageProcessor(
        size={"height": 32, "width": 32},
        crop_to_patches=True,
        min_patches=1,
        max_patches=4,
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    processor = AyaVisionProcessor(
        image_processor, tok, patch_size=8, img_size=32, downsample_factor=2, chat_template=_AYA_TEMPLATE
    )
    text = Cohere2Config(**_lm(tok), sliding_window=64, layer_types=["sliding_attention", "full_attention"])
    config = AyaVisionConfig(
        vision_config=_siglip(32, 8),
        text_config=text,
        downsample_factor=2,
        adapter_layer_norm_eps=1e-6,
        image_token_index=tok.convert_tokens_to_ids("<|IMG_PATCH|>"),
        alignment_intermediate_size=64,
    )
    return _save(AyaVisionForConditionalGeneration, config, processor, out)


@_family("internvl")
def build_internvl(out: Path) -> Path:
    """Modelled on OpenGVLab/InternVL3-1B-hf: InternViT + pixel shuffle, Qwen2 LM, <img><IMG_CONTEXT>*N</img>."""
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
        Qwen2Config,
    )

    marks = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
             "video_token": "<video>"}  # fmt: skip
    tok = _qwen_tokenizer(list(marks.values()), **marks)
    image_processor = GotOcr2ImageProcessor(
        size={"height": 32, "width": 32}, crop_to_patches=True, min_patches=1, max_patches=4
    )
    video_processor = InternVLVideoProcessor(size={"height": 32, "width": 32})
    processor = InternVLProcessor(
        image_processor, tok, video_processor, image_seq_length=4, chat_template=_INTERNVL_TEMPLATE
    )
    vision = {**_VIT, "image_size": [32, 32], "patch_size": [8, 8]}
    config = InternVLConfig(
        vision_config=vision,
        text_config=Qwen2Config(**_lm(tok)),
        image_seq_length=4,
        downsample_ratio=0.5,
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
    )
    return _save(InternVLForConditionalGeneration, config, processor, out)


_TEKKEN_HEAD = [
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]", "[PREFIX]", "[MIDDLE]",
    "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]",
]  # fmt: skip
_TEKKEN_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|"
    r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _tekken_tokenizer() -> TokenizersBackend:
    """Tekken byte-level BPE as converted for HF: TokenizersBackend adding BOS `<s>`; [IMG] gets id 10 as published."""
    from tokenizers import Regex, decoders
    from transformers import TokenizersBackend

    vocab, merges = _byte_level_bpe(_TEKKEN_HEAD, [])
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_TEKKEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip
    backend.decoder = decoders.ByteLevel()
    return TokenizersBackend(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        add_bos_token=True,
        extra_special_tokens=_TEKKEN_HEAD[3:],
    )


@_family("mistral3")
def build_mistral3(out: Path) -> Path:
    """Modelled on mistralai/Mistral-Small-3.1-24B-Instruct-2503: Pixtral tower, patch merger, [IMG]/[IMG_BREAK]."""
    from transformers import (
        Mistral3Config,
        Mistral3ForConditionalGeneration,
        MistralConfig,
        PixtralImageProcessor,
        PixtralProcessor,
        PixtralVisionConfig,
    )

    tok = _tekken_tokenizer()
    image_processor = PixtralImageProcessor(size={"longest_edge": 64}, patch_size=8)
    processor = PixtralProcessor(
        image_processor, tok, patch_size=8, spatial_merge_size=2, chat_template=_MISTRAL3_TEMPLATE
    )
    vision = PixtralVisionConfig(**_VIT, image_size=64, patch_size=8, head_dim=16)
    config = Mistral3Config(
        vision_config=vision,
        text_config=MistralConfig(**_lm(tok), sliding_window=None),
        image_token_index=tok.convert_tokens_to_ids("[IMG]"),
        spatial_merge_size=2,
    )
    return _save(Mistral3ForConditionalGeneration, config, processor, out)
