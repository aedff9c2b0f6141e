"""The processor-driven family adapter: how any model family turns conversations and images into model inputs.
Rows travel as HF structured content; the processor's chat template renders turns; `processor(text, images)` expands
image placeholders and makes every input the model takes; labels cover exactly the assistant answers. Training
collation, generation and evaluation all encode through one FamilyAdapter, so their prompt ids cannot drift."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vitcli.modeling.families import IMAGE_TOKEN, Family, check_installed, family_of
from vitcli.modeling.labels import IGNORE_INDEX, align_labels, char_labels
from vitcli.runtime.errors import DataError, ModelError

Messages = list[dict[str, Any]]


def to_structured(messages: Messages) -> Messages:
    """String content with '<image>' placeholders -> [{type: image}, {type: text}] items (list content is kept)."""
    out = []
    for m in messages:
        content = m["content"]
        if not isinstance(content, str):
            out.append({"role": m["role"], "content": list(content)})
            continue
        items: list[dict[str, Any]] = []
        for k, part in enumerate(content.split(IMAGE_TOKEN)):
            if k:
                items.append({"type": "image"})
            if part.strip():
                items.append({"type": "text", "text": part.strip()})
        out.append({"role": m["role"], "content": items})
    return out


def text_of(content: Any) -> str:
    """The text of one message's content, images left out."""
    if isinstance(content, str):
        return content.replace(IMAGE_TOKEN, "").strip()
    return " ".join(c["text"] for c in content if c.get("type") == "text").strip()


def count_images(messages: Messages) -> int:
    return sum(1 for m in to_structured(messages) for c in m["content"] if c.get("type") == "image")


def user_turn(prompt: str, num_images: int = 1) -> Messages:
    return [{"role": "user", "content": [{"type": "image"}] * num_images + [{"type": "text", "text": prompt}]}]


@dataclass
class Sample:
    """One training row as the adapter takes it: structured messages, its decoded images, its task."""

    messages: Messages
    images: list[Any]
    task: str = "conversation"


class FamilyAdapter:
    """Encode prompts for generation and conversations for training, the way `family` and its processor want."""

    def __init__(self, processor: Any, family: Family, bos_token_id: int | None = None) -> None:
        check_installed(family)
        self.processor = processor
        self.family = family
        self.tokenizer = processor.tokenizer
        self.bos_token_id = bos_token_id  # BLIP: the decoder starts from the config's bos, not the tokenizer's CLS
        self.add_special_tokens = True
        if family.prompt == "chat":
            if not self.chat_template():
                raise ModelError(
                    f"this {family.name} checkpoint ships no chat template",
                    "pass a chat (instruct) checkpoint, or add a chat_template to its processor",
                )
            self.accept_structured_content()
            rendered = self.render(user_turn("x"), add_generation_prompt=True)
            bos = self.tokenizer.bos_token
            self.add_special_tokens = not (bos and rendered.startswith(bos))  # the template already holds BOS

    @classmethod
    def for_model(cls, model_or_config: Any, processor: Any) -> FamilyAdapter:
        config = getattr(model_or_config, "config", model_or_config)
        has_template = bool(
            getattr(processor, "chat_template", None)
            or getattr(getattr(processor, "tokenizer", None), "chat_template", None)
        )
        family = family_of(getattr(config, "model_type", None), has_template)
        text_config = getattr(config, "text_config", None)
        bos = getattr(text_config, "bos_token_id", None) if family.decoder_bos_prompt else None
        return cls(processor, family, bos)

    # --- rendering -------------------------------------------------------------------------------------------
    def accept_structured_content(self) -> None:
        """Give a string-only template the structured-content prelude (saved with the processor, so exports take
        HF/vLLM chat content too); a template that still drops text or images is refused."""
        from vitcli.modeling.templates import renders_structured, with_structured_content

        marker = getattr(self.processor, "image_token", None) or IMAGE_TOKEN
        if renders_structured(self.render):
            return
        fixed = with_structured_content(self.chat_template(), marker)
        for owner in (self.processor, self.tokenizer):
            if getattr(owner, "chat_template", None):
                owner.chat_template = fixed
        if not renders_structured(self.render):
            raise ModelError(
                f"the chat template of this {self.family.name} model drops text or images",
                "fix the checkpoint's chat_template (it must render each message's content)",
            )

    def chat_template(self) -> str | None:
        return getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)

    def render(self, messages: Messages, add_generation_prompt: bool = False) -> str:
        """Structured messages through the chat template (the processor's, else the tokenizer's)."""
        owner = self.processor if getattr(self.processor, "chat_template", None) else self.tokenizer
        return owner.apply_chat_template(
            to_structured(messages), add_generation_prompt=add_generation_prompt, tokenize=False
        )

    def question(self, prompt: str | None, task: str = "vqa") -> str | None:
        """The question actually asked. Captioners that are not chat models caption with their own caption prompt
        (None: no text at all), whatever a dataset's caption row asks; chat models are asked as the row asks.
        A row's '<image>' placeholders are dropped: the processor places the image tokens itself."""
        if not self.family.takes_prompt:
            return None
        if task == "caption" and self.family.prompt != "chat":
            return self.family.caption_prompt
        return text_of(prompt or "") or self.family.caption_prompt

    def prompt_text(self, question: str | None, num_images: int = 1) -> str | None:
        """The text the model is given for one question about `num_images` images (None: images only)."""
        if self.family.prompt == "chat":
            return self.render(user_turn(text_of(question or ""), num_images), add_generation_prompt=True)
        if self.family.prompt == "image-only":
            return None
        return question

    # --- generation ------------------------------------------------------------------------------------------
    def encode_prompts(self, images: list[Any], questions: list[str | None]) -> dict[str, Any]:
        """Processor outputs for a batch of one image + one question each, padded for generation."""
        if self.family.prompt == "image-only":
            return dict(self.processor.image_processor(images=images, return_tensors="pt"))
        # no question: "" encodes to what each plain family's generate() starts from without text ([CLS], bos)
        texts = [self.prompt_text(q) for q in questions]
        side = self.family.generate_padding
        self.tokenizer.padding_side = side
        inputs = dict(
            self.processor(
                images=self.image_arg([[im] for im in images]),
                text=[t or "" for t in texts],
                padding=True,
                padding_side=side,
                return_tensors="pt",
                **self.special_kwargs(),
            )
        )
        inputs.pop("labels", None)  # PaliGemma's processor returns all-ignored labels without a suffix
        if self.family.prompt_drops_eos:  # [CLS] question, not [CLS] question [SEP]: the answer continues it
            inputs = {
                k: v[:, :-1] if k in ("input_ids", "attention_mask", "token_type_ids") else v for k, v in inputs.items()
            }
        return inputs

    def special_kwargs(self) -> dict[str, bool]:
        """Processor kwargs: specials off when the chat template holds them; else the processor's default (Florence-2
        adds <s> and </s> around its task prompt itself)."""
        return {} if self.add_special_tokens else {"add_special_tokens": False}

    def conditioned_on(self, prompt_ids: list[int]) -> list[int]:
        """The ids generate() actually continues for these prompt ids (and echoes before the new tokens)."""
        if self.family.decoder_bos_prompt and self.bos_token_id is not None:
            return [self.bos_token_id, *prompt_ids[1:-1]]
        return prompt_ids

    def image_arg(self, per_sample: list[list[Any]]) -> Any:
        if self.family.nested_images:
            return per_sample
        return [im for ims in per_sample for im in ims] or None

    # --- training --------------------------------------------------------------------------------------------
    def problem(self, messages: Messages, task: str) -> str | None:
        """Why a row cannot train with this family (checked on text alone, before any step), or None."""
        structured = to_structured(messages)
        n_images = count_images(structured)
        if n_images > 1 and not self.family.multi_image:
            return f"{n_images} images in one row ({self.family.name} takes one image per sample)"
        if self.family.prompt == "image-only" and task != "caption":
            return "not a caption row (image-only captioners train on captions)"
        answers = [m for m in structured if m["role"] == "assistant"]
        if not answers or not all(text_of(m["content"]) for m in answers):
            return "no answer tokens to learn (empty labels)"
        if self.family.prompt != "chat" and len(answers) > 1:
            return f"{len(answers)} answers in one row ({self.family.name} trains on one question and answer)"
        if self.family.prompt == "chat":
            try:
                _, labels = self.chat_labels(structured)
            except DataError as e:
                return e.message
            if sum(x != IGNORE_INDEX for x in labels) < len(answers):
                return "the chat template renders an answer as empty (no answer tokens to learn)"
        return None

    def chat_labels(self, messages: Messages) -> tuple[str, list[int]]:
        """(training text, labels over its plain tokenisation). Each answer follows exactly the generation prompt the
        model is asked with at inference, and its span (answer + end of turn) is found by rendering growing prefixes.
        Templates whose answer header differs from their generation prompt (LLaVA-OneVision renders "assistant \n"
        but prompts "assistant\n") are stitched: generation prompt + the answer as the template renders it."""
        text, canon, spans = "", "", []
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            prompt = self.render(messages[:i], add_generation_prompt=True)
            through = self.render(messages[: i + 1])
            if not prompt.startswith(canon) or not through.startswith(canon):
                raise DataError(
                    "the chat template does not render conversations as growing prefixes",
                    "use a template without per-turn state (vitcli needs prefixes to find answers)",
                )
            text += prompt[len(canon) :]
            completion = through[len(prompt) :] if through.startswith(prompt) else answer_onward(through, prompt, m)
            spans.append((len(text), len(text) + len(completion)))
            text, canon = text + completion, through
        full = self.render(messages)
        if full.startswith(canon):
            text += full[len(canon) :]
        return text, char_labels(self.tokenizer, text, spans, self.add_special_tokens)

    def encode_training(self, samples: list[Sample], max_length: int = 0) -> dict[str, Any]:
        """One right-padded training batch: every model input, and labels on the answers only."""
        import torch

        from vitcli.modeling.seq2seq import encode_image_only, encode_prefix_lm, encode_seq2seq

        self.tokenizer.padding_side = "right"
        if self.family.prompt == "image-only":
            return encode_image_only(self, samples, max_length)
        if self.family.prompt == "seq2seq":
            return encode_seq2seq(self, samples, max_length)
        if self.family.prompt == "prefix-lm":
            return encode_prefix_lm(self, samples)
        texts, plain_labels = zip(*(self.text_and_labels(s) for s in samples), strict=True)
        images = self.image_arg([s.images for s in samples])
        kwargs = {"images": images} if images else {}
        batch = dict(
            self.processor(
                text=list(texts),
                padding=True,
                padding_side="right",
                return_tensors="pt",
                **self.special_kwargs(),
                **kwargs,
            )
        )
        ids = batch["input_ids"]  # (B, T)
        labels = torch.full_like(ids, IGNORE_INDEX)
        for row, (text_ids, lab) in enumerate(plain_labels):
            keep = batch["attention_mask"][row].bool()
            labels[row, keep] = torch.tensor(align_labels(text_ids, lab, ids[row, keep].tolist()))
        if self.bos_token_id is not None:
            ids[:, 0] = self.bos_token_id
        batch["labels"] = labels
        return clip_to(batch, max_length, self.image_token_ids())

    def text_and_labels(self, sample: Sample) -> tuple[str, tuple[list[int], list[int]]]:
        """The full text of a decoder-only sample and (its plain token ids, labels on those ids)."""
        if self.family.prompt == "chat":
            text, labels = self.chat_labels(sample.messages)
            return text, (self.plain_ids(text), labels)
        question, answer = first_exchange(sample.messages)
        question = self.question(question, sample.task)
        prefix = f"{question} " if question else ""
        text = prefix + answer + self.eos_text()
        labels = char_labels(self.tokenizer, text, [(len(prefix), len(text))], True, label_trailing_special=True)
        return text, (self.plain_ids(text), labels)

    def plain_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=self.add_special_tokens)["input_ids"]

    def eos_text(self) -> str:
        """Appended to plain answers unless the tokenizer ends every sequence with eos/sep itself."""
        tok = self.tokenizer
        ids = tok("a", add_special_tokens=True)["input_ids"]
        ends = {tok.eos_token_id, getattr(tok, "sep_token_id", None)} - {None}
        return "" if ids and ids[-1] in ends else (tok.eos_token or "")

    def image_token_ids(self) -> set[int]:
        ids = {getattr(self.processor, "image_token_id", None)}
        token = getattr(self.processor, "image_token", None)
        if token:  # BLIP-2 keeps an AddedToken, not a str
            ids.add(self.tokenizer.convert_tokens_to_ids(str(getattr(token, "content", token))))
        return {i for i in ids if i is not None and i != self.tokenizer.unk_token_id}


def answer_onward(through: str, prompt: str, message: dict[str, Any]) -> str:
    """The rendered answer (and end of turn) of an assistant turn whose header differs from the generation prompt."""
    shared = len(os.path.commonprefix([through, prompt]))
    answer = text_of(message["content"])
    at = through.find(answer[:8], shared) if answer else -1
    if at < 0:
        raise DataError(
            "the chat template renders an answer that cannot be found after its prompt",
            "check the model's chat_template (train --show-samples shows what trains)",
        )
    return through[at:]


def first_exchange(messages: Messages) -> tuple[str | None, str]:
    """(first user text or None, first assistant text) of a row."""
    structured = to_structured(messages)
    question = next((text_of(m["content"]) for m in structured if m["role"] == "user"), None)
    answer = next(text_of(m["content"]) for m in structured if m["role"] == "assistant")
    return question or None, answer


def clip_to(batch: dict[str, Any], max_length: int, image_ids: set[int]) -> dict[str, Any]:
    """Cut (B, T) tensors to max_length; cutting image tokens is an error, not a silent mismatch."""
    ids = batch["input_ids"]
    if max_length <= 0 or ids.shape[1] <= max_length:
        return batch
    cut = ids[:, max_length:]
    if any(bool((cut == i).any()) for i in image_ids):
        raise DataError(
            f"a sample of {ids.shape[1]} tokens would lose image tokens at --max-length {max_length}",
            "raise --max-length (or use smaller images)",
        )
    width = ids.shape[1]
    return {
        k: v[:, :max_length]
        if hasattr(v, "dim") and v.dim() == 2 and v.shape[1] == width and k != "pixel_values"
        else v
        for k, v in batch.items()
    }
