"""Render conversations with the tokenizer's chat template and label only the assistant answers.
Works for any fast tokenizer: answer spans are found by rendering prefixes and mapped to tokens by offsets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vitcli.modeling.families import IMAGE_TOKEN
from vitcli.modeling.labels import IGNORE_INDEX
from vitcli.runtime.errors import DataError


@dataclass
class Encoded:
    input_ids: list[int]  # <image> already expanded to num_image_tokens copies
    labels: list[int]  # IGNORE_INDEX everywhere except assistant answers (and their end-of-turn token)
    # Packed samples only: 0 = the shared image prefix, k = the k-th conversation (sees the prefix and itself only)
    segment_ids: list[int] | None = None

    def truncated(self, max_length: int) -> Encoded:
        segments = self.segment_ids[:max_length] if self.segment_ids is not None else None
        return Encoded(self.input_ids[:max_length], self.labels[:max_length], segments)


def render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def answer_char_spans(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character span of each assistant turn (its content plus end-of-turn text)."""
    full = render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(render(tokenizer, messages[:i], add_generation_prompt=True))
        end = len(render(tokenizer, messages[: i + 1]))
        if not full.startswith(render(tokenizer, messages[: i + 1])):
            raise DataError(
                "the chat template does not render conversations as growing prefixes",
                "use a template without per-turn state, or the ChatML default",
            )
        spans.append((start, end))
    return full, spans


def encode_conversation(tokenizer: Any, messages: list[dict[str, str]], num_image_tokens: int) -> Encoded:
    """Token ids and answer-only labels; each <image> token becomes `num_image_tokens` image tokens."""
    text, spans = answer_char_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    ids, labels = [], []
    for tok_id, (s, e) in zip(enc["input_ids"], enc["offset_mapping"], strict=False):
        in_answer = any(a <= s and e <= b and e > s for a, b in spans)
        if tok_id == image_id:
            ids.extend([image_id] * num_image_tokens)
            labels.extend([IGNORE_INDEX] * num_image_tokens)
        else:
            ids.append(tok_id)
            labels.append(tok_id if in_answer else IGNORE_INDEX)
    return Encoded(ids, labels)


def build_prompt(tokenizer: Any, prompt: str) -> str:
    """The generation prompt for one user turn; '<image>' is prepended when the prompt has none."""
    content = prompt if IMAGE_TOKEN in prompt else f"{IMAGE_TOKEN}\n{prompt}"
    return render(tokenizer, [{"role": "user", "content": content}], add_generation_prompt=True)
