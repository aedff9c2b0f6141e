"""What differs between model families, declared once: one small entry per family, read by training collation,
generation and evaluation alike (through modeling/adapter.py). Nothing else in vitcli branches on a model type.
The entries hold conventions only; tokens, placeholder expansion and pixel inputs come from each processor."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from vitcli.runtime.errors import ModelError

IMAGE_TOKEN = "<image>"  # the placeholder in vitcli datasets' string content (converted to {"type": "image"})
CAPTION_PROMPT = "Describe the image briefly."  # what chat models are asked when the user asks nothing


@dataclass(frozen=True)
class Family:
    """One family's conventions.
    prompt: 'chat' (the processor's chat template renders turns), 'plain' (the question is the text, answers
    continue it: BLIP, BLIP-2, GIT), 'prefix-lm' (PaliGemma: the processor builds labels from suffix=),
    'seq2seq' (the question goes to the encoder, labels are the answer: Florence-2), 'image-only' (no text in:
    VisionEncoderDecoder). caption_prompt: the question asked to caption (None: caption with no text)."""

    name: str
    model_types: tuple[str, ...]
    prompt: str = "chat"
    caption_prompt: str | None = CAPTION_PROMPT
    multi_image: bool = False
    nested_images: bool = False  # the processor wants one image list per sample, not a flat list
    prompt_drops_eos: bool = False  # GIT: a prompt is [CLS] question, without the [SEP] the tokenizer appends
    same_length_batches: bool = False  # BLIP: generate() rewrites column 0 and drops the last, so pad nothing
    decoder_bos_prompt: bool = False  # BLIP: generate() swaps id 0 for the decoder's bos and drops the last ([SEP])
    needs: tuple[str, ...] = ()  # optional modules its processor imports
    extra: str = ""  # the vitcli extra that brings them

    @property
    def takes_prompt(self) -> bool:
        return self.prompt != "image-only"

    @property
    def encoder_decoder(self) -> bool:
        return self.prompt in ("seq2seq", "image-only")

    @property
    def answer_logits(self) -> bool:
        """Whether training may project only the answer positions (`logits_to_keep`): logits line up with the
        labels under the causal shift and the family's loss is plain cross-entropy (not so for BLIP, which smooths
        labels, GIT, which puts image positions first, or encoder-decoders, which do not shift)."""
        return self.prompt in ("chat", "prefix-lm")

    @property
    def generate_padding(self) -> str:
        """Decoder-only models continue the prompt, so prompts pad on the left; encoders take right padding."""
        return "right" if self.encoder_decoder else "left"


TV = {"needs": ("torchvision",), "extra": "families"}
FAMILIES: tuple[Family, ...] = (
    Family("llava", ("llava",)),  # vitcli's own runs and llava-hf/llava-1.5
    Family("llava-next", ("llava_next",), multi_image=True),
    Family("llava-onevision", ("llava_onevision",), multi_image=True, **TV),
    Family("qwen2-vl", ("qwen2_vl", "qwen2_5_vl"), multi_image=True, **TV),
    Family("idefics3", ("idefics3",), multi_image=True, nested_images=True),
    Family(
        "smolvlm",
        ("smolvlm",),
        multi_image=True,
        nested_images=True,
        needs=("torchvision", "num2words"),
        extra="families",
    ),
    Family("gemma3", ("gemma3",), multi_image=True, nested_images=True),
    Family("aya-vision", ("aya_vision",)),
    Family("internvl", ("internvl",), multi_image=True, **TV),
    Family("mistral3", ("mistral3",), multi_image=True, **TV),
    Family("paligemma", ("paligemma",), prompt="prefix-lm", caption_prompt="caption en"),
    Family("blip", ("blip",), prompt="plain", caption_prompt=None, same_length_batches=True, decoder_bos_prompt=True),
    Family("blip-2", ("blip-2",), prompt="plain", caption_prompt=None),
    Family("git", ("git",), prompt="plain", caption_prompt=None, prompt_drops_eos=True),
    Family("florence2", ("florence2",), prompt="seq2seq", caption_prompt="<CAPTION>"),
    Family("vision-encoder-decoder", ("vision-encoder-decoder",), prompt="image-only", caption_prompt=None),
)
BY_MODEL_TYPE = {t: f for f in FAMILIES for t in f.model_types}


def family_of(model_type: str | None, has_chat_template: bool = True) -> Family:
    """The declared family of a config.model_type; an undeclared one is taken as a chat model when its processor
    has a chat template (most new image-text-to-text families are), else as a plain captioner."""
    if model_type in BY_MODEL_TYPE:
        return BY_MODEL_TYPE[model_type]
    return Family(
        model_type or "unknown",
        (model_type or "unknown",),
        prompt="chat" if has_chat_template else "plain",
        caption_prompt=None if not has_chat_template else CAPTION_PROMPT,
    )


def missing_modules(family: Family) -> list[str]:
    return [m for m in family.needs if importlib.util.find_spec(m) is None]


def check_installed(family: Family) -> None:
    """A clear error naming what a family's processor needs, before transformers fails with a blank ImportError."""
    missing = missing_modules(family)
    if missing:
        raise ModelError(
            f"{family.name} models need {' and '.join(missing)}, which is not installed",
            f"pip install 'vitcli[{family.extra}]' (torchvision must match your torch build; see README)",
        )
