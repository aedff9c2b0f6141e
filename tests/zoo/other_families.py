"""Tiny random checkpoints of real HF VLM families (non-LLaVA), built offline for tests.

Each builder trains a small tokenizer in-process with the family's real tokenizer class and special tokens,
wraps it in the family's real processor, builds a tiny randomly initialised model of the real architecture
and saves both with ``save_pretrained`` (safetensors). Plain transformers can then load the folder with
``AutoProcessor`` and ``AutoModelForImageTextToText`` (GIT and Gemma 3 also with ``AutoModelForCausalLM``).
Sizes: hidden 32-64, 1-2 layers, 32 px images, 4-17 image tokens; each build takes well under a second once
transformers is imported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
import transformers as tf
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

Builder = Callable[[Path], Path]

#: family name (transformers model_type) -> builder; filled by ``@_family`` below.
OTHER_FAMILIES: dict[str, Builder] = {}

_COLOURS = ("red", "blue", "green", "yellow", "black", "white")
_SHAPES = ("circle", "square", "triangle")
_PLACES = ("left", "right", "top", "bottom", "middle")
_PROSE = """\
A picture is worth a thousand words. In this image there is one red circle on the left and two blue squares
on the right. Describe the picture in detail. What is the shape at the top of the image? What colour is the
triangle at the bottom? What color is the circle? Yes, there is a green triangle. No, there are no circles.
There are three shapes in the picture: one, two and three. The colour of the square is blue.
Describe the image. Answer the question with a single word. Is there a red square? Yes. Is it on the left?
No, it is on the right. How many shapes are there? Two. Where is the green circle? At the top.
The user asks a question about the image and the assistant answers it. Caption: a small yellow square.
Question: what is in the image? Answer: a black triangle and a white circle.
User: What does the image describe? Assistant: The image shows a shape. System: You are a helpful model.
caption en a red circle. answer en blue. detect en the square. What text is in the image? Locate the circle.
"""
_STD = 0.3


def _family(name: str) -> Callable[[Builder], Builder]:
    """Register a builder in OTHER_FAMILIES under ``name``."""

    def register(fn: Builder) -> Builder:
        OTHER_FAMILIES[name] = fn
        return fn

    return register


# ----------------------------------------------------------------------------------------------- tokenizers


def _corpus() -> list[str]:
    lines = _PROSE.splitlines()
    for colour in _COLOURS:
        for shape in _SHAPES:
            for place in _PLACES:
                lines.append(f"There is a {colour} {shape} at the {place} of the image.")
            lines.append(f"What colour is the {shape}? The {shape} is {colour}.")
    return lines


def _train(model: models.Model, trainer: trainers.Trainer, normalizer=None, pre_tokenizer=None) -> dict:
    """Train a bare ``tokenizers`` model on the corpus and return its JSON (vocab, merges)."""
    tok = Tokenizer(model)
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(_corpus(), trainer)
    return json.loads(tok.to_str())["model"]


def _merges(model_json: dict) -> list[tuple[str, str]]:
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_json["merges"]]


def _byte_bpe(specials: list[str], pre_tokenizer, vocab_size: int = 600) -> tuple[dict[str, int], list]:
    """Byte-level BPE (GPT-2 / OPT / RoBERTa / Llama 3 style) with ``specials`` first in the vocab."""
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    model = _train(models.BPE(), trainer, pre_tokenizer=pre_tokenizer)
    return model["vocab"], _merges(model)


def _llama3_tokenizer(extra: list[str]) -> tf.PreTrainedTokenizerFast:
    """Llama 3 style tokenizer (byte-level BPE, regex split, adds <|begin_of_text|>), as in Idefics3-8B-Llama3."""
    split = pre_tokenizers.Split(
        Regex(
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
            r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
        ),
        "isolated",
    )
    pre = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>"]
    vocab, merges = _byte_bpe(specials, pre)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    return tf.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|reserved_special_token_0|>",
        add_bos_token=True,
        extra_special_tokens=extra,
        padding_side="left",
        clean_up_tokenization_spaces=True,
    )


def _gemma_vocab(specials: list[str]) -> tuple[dict[str, int], list]:
    """SentencePiece-like BPE over '▁'-joined words (Gemma style: no prefix space, <0xXX> byte fallback)."""
    alphabet = [chr(c) for c in range(32, 127)] + ["▁", "\n"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=[*specials, *byte_tokens], initial_alphabet=alphabet, show_progress=False
    )
    model = _train(
        models.BPE(unk_token="<unk>"),
        trainer,
        normalizers.Replace(" ", "▁"),
        pre_tokenizers.Split("▁", behavior="merged_with_next"),
    )
    return model["vocab"], _merges(model)


def _gemma_tokenizer(extra_specials: list[str], **kwargs) -> tf.GemmaTokenizer:
    """Gemma tokenizer: <pad>=0 <eos>=1 <bos>=2 <unk>=3 <mask>=4, adds <bos> when encoding."""
    vocab, merges = _gemma_vocab(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", *extra_specials])
    tok = tf.GemmaTokenizer(
        vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False, padding_side="left", **kwargs
    )
    tok.add_tokens([tf.AddedToken(t, special=True, normalized=False) for t in extra_specials], special_tokens=True)
    return tok


def _bert_tokenizer(extra: list[str] | None = None, **kwargs) -> tf.BertTokenizer:
    """BERT uncased WordPiece tokenizer ([CLS] ... [SEP]); ``extra`` special tokens go after the vocab."""
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, show_progress=False, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    model = _train(
        models.WordPiece(unk_token="[UNK]"),
        trainer,
        normalizers.BertNormalizer(lowercase=True),
        pre_tokenizers.BertPreTokenizer(),
    )
    tok = tf.BertTokenizer(vocab=model["vocab"], **kwargs)
    if extra:
        tok.add_special_tokens({"additional_special_tokens": extra})
    return tok


# ------------------------------------------------------------------------------------------------- helpers


def _randomise(model: tf.PreTrainedModel, embed_scale: float = 1.0) -> tf.PreTrainedModel:
    """Wide random weights so that greedy outputs depend on the input.

    Gemma models multiply input embeddings by sqrt(hidden) and tie the LM head: ``embed_scale`` shrinks the embedding
    std by that factor, otherwise the residual stream is the last token's embedding and the model only echoes it.
    """
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0.0, _STD)
        model.get_input_embeddings().weight.normal_(0.0, _STD / embed_scale)
    return model.eval()


def _save(out: Path, model: tf.PreTrainedModel, processor: tf.ProcessorMixin) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


def _ids(tok, *tokens: str) -> list[int]:
    return [tok.convert_tokens_to_ids(t) for t in tokens]


def _siglip(image_size: int, patch: int = 8, hidden: int = 32) -> dict:
    return {
        "model_type": "siglip_vision_model",
        "image_size": image_size,
        "patch_size": patch,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }


def _llama(vocab: int, tok, hidden: int = 64) -> dict:
    return {
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": hidden // 4,
        "max_position_embeddings": 512,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }


# ------------------------------------------------------------------------------------- Idefics3 / SmolVLM

_IDEFICS3_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}{% else %}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
_SMOLVLM_TEMPLATE = _IDEFICS3_TEMPLATE.replace("<|begin_of_text|>", "<|im_start|>")
_IDEFICS_IMAGE = 32  # one 32 px tile, 8 px patches, pixel shuffle 2 -> 4 image tokens


def _idefics_image_kwargs() -> dict:
    return {
        "do_image_splitting": False,
        "size": {"longest_edge": _IDEFICS_IMAGE},
        "max_image_size": {"longest_edge": _IDEFICS_IMAGE},
    }


def _idefics_config(cls, tok, image_token: str, text: dict):
    return cls(
        vision_config={
            "image_size": _IDEFICS_IMAGE,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        text_config=text,
        scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids(image_token),
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )


@_family("idefics3")
def build_idefics3(out: Path) -> Path:
    """Modelled on HuggingFaceM4/Idefics3-8B-Llama3 (Llama 3 tokenizer, image splitting off)."""
    tok = _llama3_tokenizer(["<fake_token_around_image>", "<image>", "<end_of_utterance>"])
    processor = tf.Idefics3Processor(
        tf.Idefics3ImageProcessor(**_idefics_image_kwargs()), tok, image_seq_len=4, chat_template=_IDEFICS3_TEMPLATE
    )
    torch.manual_seed(0)
    config = _idefics_config(tf.Idefics3Config, tok, "<image>", _llama(len(tok), tok))
    model = _randomise(tf.Idefics3ForConditionalGeneration(config))
    model.generation_config.update(
        bos_token_id=tok.bos_token_id,
        pad_token_id=tok.pad_token_id,
        eos_token_id=_ids(tok, "<end_of_utterance>", "<|end_of_text|>"),
    )
    return _save(out, model, processor)


def _gpt2_tokenizer(specials: list[str], extra: list[str], **kwargs) -> tf.GPT2Tokenizer:
    """GPT-2 byte-level BPE tokenizer with ``specials`` at the start of the vocab."""
    vocab, merges = _byte_bpe(specials, pre_tokenizers.ByteLevel(add_prefix_space=False))
    return tf.GPT2Tokenizer(vocab=vocab, merges=merges, extra_special_tokens=extra, **kwargs)


@_family("smolvlm")
def build_smolvlm(out: Path) -> Path:
    """Modelled on HuggingFaceTB/SmolVLM-Instruct (SmolLM2 GPT-2 tokenizer, image splitting off)."""
    grid = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    tok = _gpt2_tokenizer(
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>", *grid],
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        padding_side="left",
    )
    edge = {"longest_edge": _IDEFICS_IMAGE}
    video = tf.SmolVLMVideoProcessor(size=edge, max_image_size=edge)
    processor = tf.SmolVLMProcessor(
        tf.SmolVLMImageProcessor(**_idefics_image_kwargs()),
        tok,
        video,
        image_seq_len=4,
        chat_template=_SMOLVLM_TEMPLATE,
    )
    torch.manual_seed(0)
    config = _idefics_config(tf.SmolVLMConfig, tok, "<image>", _llama(len(tok), tok))
    model = _randomise(tf.SmolVLMForConditionalGeneration(config))
    model.generation_config.update(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    return _save(out, model, processor)


# -------------------------------------------------------------------------------------- PaliGemma / Gemma 3

_GEMMA3_TEMPLATE = """\
{{- bos_token -}}
{%- if messages[0]['role'] == 'system' -%}
  {%- if messages[0]['content'] is string -%}
    {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
  {%- else -%}
    {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
  {%- endif -%}
  {%- set loop_messages = messages[1:] -%}
{%- else -%}
  {%- set first_user_prefix = '' -%}
  {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
  {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
    {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}
  {%- endif -%}
  {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
  {{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') -}}
  {%- if message['content'] is string -%}
    {{- message['content'] | trim -}}
  {%- else -%}
    {%- for part in message['content'] -%}
      {%- if part['type'] == 'image' -%}
        {{- '<start_of_image>' -}}
      {%- elif part['type'] == 'text' -%}
        {{- part['text'] | trim -}}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {{- '<end_of_turn>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {{- '<start_of_turn>model\\n' -}}
{%- endif -%}
"""


def _gemma_text(vocab: int, tok, hidden: int = 64) -> dict:
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": hidden // 4,
        "max_position_embeddings": 512,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }


@_family("paligemma")
def build_paligemma(out: Path) -> Path:
    """Modelled on google/paligemma-3b-pt-224 (prefix-LM, no chat template, 32 px / 16 image tokens)."""
    tok = _gemma_tokenizer(["<image>"], extra_special_tokens=["<image>"])
    images = tf.SiglipImageProcessor(size={"height": 32, "width": 32}, image_seq_length=16)
    processor = tf.PaliGemmaProcessor(images, tok)  # adds <locXXXX>/<segXXX>, turns add_bos_token off
    tok.add_bos_token = True  # saved as published; the processor turns it off again when loaded
    torch.manual_seed(0)
    text = {"model_type": "gemma", **_gemma_text(len(tok), tok)}
    config = tf.PaliGemmaConfig(
        vision_config=_siglip(32),
        text_config=text,
        projection_dim=64,
        hidden_size=64,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vocab_size=len(tok),
    )
    model = _randomise(tf.PaliGemmaForConditionalGeneration(config), embed_scale=config.text_config.hidden_size**0.5)
    model.generation_config.update(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    return _save(out, model, processor)


@_family("gemma3")
def build_gemma3(out: Path) -> Path:
    """Modelled on google/gemma-3-4b-it (SigLIP, 4 pooled image tokens, Gemma 3 chat template)."""
    named = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tok = _gemma_tokenizer(["<start_of_turn>", "<end_of_turn>", *named.values()], extra_special_tokens=named)
    images = tf.Gemma3ImageProcessor(size={"height": 32, "width": 32})
    processor = tf.Gemma3Processor(images, tok, chat_template=_GEMMA3_TEMPLATE, image_seq_length=4)
    torch.manual_seed(0)
    text = {**_gemma_text(len(tok), tok), "sliding_window": 16, "query_pre_attn_scalar": 16}
    boi, eoi, image = _ids(tok, *named.values())
    config = tf.Gemma3Config(
        vision_config=_siglip(32),
        text_config=text,
        mm_tokens_per_image=4,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
    )
    model = _randomise(tf.Gemma3ForConditionalGeneration(config), embed_scale=config.text_config.hidden_size**0.5)
    model.generation_config.update(
        bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id, eos_token_id=_ids(tok, "<eos>", "<end_of_turn>")
    )
    return _save(out, model, processor)


# ------------------------------------------------------------------------------------------- BLIP / BLIP-2


def _vit(image_size: int = 32, patch: int = 8, hidden: int = 32) -> dict:
    return {
        "image_size": image_size,
        "patch_size": patch,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }


@_family("blip")
def build_blip(out: Path) -> Path:
    """Modelled on Salesforce/blip-image-captioning-base (BERT tokenizer + [DEC] bos, captioner, no template)."""
    tok = _bert_tokenizer(["[ENC]"], bos_token="[DEC]")
    processor = tf.BlipProcessor(tf.BlipImageProcessor(size={"height": 32, "width": 32}), tok)
    torch.manual_seed(0)
    text = {
        "vocab_size": len(tok),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "encoder_hidden_size": 32,
        "max_position_embeddings": 128,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.sep_token_id,
        "sep_token_id": tok.sep_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    config = tf.BlipConfig(vision_config=_vit(), text_config=text, projection_dim=32)
    model = _randomise(tf.BlipForConditionalGeneration(config))
    model.generation_config.update(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.sep_token_id,
        pad_token_id=tok.pad_token_id,
        decoder_start_token_id=tok.bos_token_id,
    )
    return _save(out, model, processor)


@_family("blip2")
def build_blip2(out: Path) -> Path:
    """Modelled on Salesforce/blip2-opt-2.7b (OPT GPT-2 tokenizer adding </s> as BOS, 4 query tokens)."""
    tok = _gpt2_tokenizer(
        ["<s>", "<pad>", "</s>", "<unk>"],
        [],
        bos_token="</s>",
        eos_token="</s>",
        unk_token="</s>",
        pad_token="<pad>",
        add_bos_token=True,
        padding_side="left",
    )
    processor = tf.Blip2Processor(
        tf.BlipImageProcessor(size={"height": 32, "width": 32}), tok, num_query_tokens=4
    )  # adds the <image> token
    newline = tok.convert_tokens_to_ids("Ċ")  # OPT-based BLIP-2 stops on "\n" (id 50118 in the real vocab)
    torch.manual_seed(0)
    text = {
        "model_type": "opt",
        "vocab_size": len(tok),
        "hidden_size": 64,
        "ffn_dim": 128,
        "word_embed_proj_dim": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 512,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": newline,
        "pad_token_id": tok.pad_token_id,
    }
    qformer = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "encoder_hidden_size": 32,
        "vocab_size": 64,
        "max_position_embeddings": 64,
    }
    config = tf.Blip2Config(
        vision_config=_vit(),
        qformer_config=qformer,
        text_config=text,
        num_query_tokens=4,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )
    model = _randomise(tf.Blip2ForConditionalGeneration(config))
    model.generation_config.update(bos_token_id=tok.bos_token_id, eos_token_id=newline, pad_token_id=tok.pad_token_id)
    return _save(out, model, processor)


# ------------------------------------------------------------------------------------------ GIT / Florence-2


@_family("git")
def build_git(out: Path) -> Path:
    """Modelled on microsoft/git-base (CLIP image processor, BERT tokenizer, 17 image tokens prepended)."""
    # model_input_names keeps token_type_ids out: GitForCausalLM.generate rejects them
    tok = _bert_tokenizer(model_input_names=["input_ids", "attention_mask"])
    images = tf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = tf.GitProcessor(images, tok)
    torch.manual_seed(0)
    config = tf.GitConfig(
        vision_config=_vit(),
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = _randomise(tf.GitForCausalLM(config))
    model.generation_config.update(
        bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id
    )
    return _save(out, model, processor)


def _bart_tokenizer() -> tf.BartTokenizer:
    """BART byte-level tokenizer (<s>=0 <pad>=1 </s>=2 <unk>=3) + Florence-2 <loc_*> tokens and <image>."""
    vocab, merges = _byte_bpe(["<s>", "<pad>", "</s>", "<unk>"], pre_tokenizers.ByteLevel(add_prefix_space=False))
    vocab["<mask>"] = len(vocab)
    tok = tf.BartTokenizer(vocab=vocab, merges=merges, extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens([f"<loc_{i}>" for i in range(1000)])
    return tok


@_family("florence2")
def build_florence2(out: Path) -> Path:
    """Modelled on florence-community/Florence-2-base (DaViT + BART encoder-decoder, task prompts)."""
    tok = _bart_tokenizer()
    images = tf.CLIPImageProcessor(
        size={"height": 32, "width": 32},
        do_center_crop=False,
        image_seq_length=17,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = tf.Florence2Processor(images, tok)
    torch.manual_seed(0)
    text = {
        "model_type": "bart",
        "vocab_size": len(tok),
        "d_model": 32,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 64,
        "decoder_ffn_dim": 64,
        "max_position_embeddings": 128,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "decoder_start_token_id": tok.eos_token_id,
    }
    # 32 px -> stride 4 -> 8x8 -> stride 2 -> 4x4 = 16 spatial tokens + 1 pooled token = 17
    vision = {
        "depths": [1, 1],
        "patch_size": [7, 3],
        "patch_stride": [4, 2],
        "patch_padding": [3, 1],
        "patch_prenorm": [False, True],
        "embed_dim": [16, 32],
        "num_heads": [1, 2],
        "num_groups": [1, 2],
        "window_size": 4,
        "projection_dim": 32,
        "drop_path_rate": 0.0,
    }
    config = tf.Florence2Config(text_config=text, vision_config=vision, image_token_id=tok.image_token_id)
    model = _randomise(tf.Florence2ForConditionalGeneration(config))
    model.generation_config.update(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        decoder_start_token_id=tok.eos_token_id,
    )
    return _save(out, model, processor)
