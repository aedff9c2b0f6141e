"""Answer-only labels without separator arithmetic: mark the tokens whose characters fall in the answer spans of the
rendered text, then carry those labels onto the processor's ids (where image placeholders are expanded) by aligning
the two token sequences. Works for any fast tokenizer and any processor that expands placeholders in place."""

from __future__ import annotations

import difflib
from typing import Any

from vitcli.runtime.errors import DataError

IGNORE_INDEX = -100


def char_labels(
    tokenizer: Any,
    text: str,
    spans: list[tuple[int, int]],
    add_special_tokens: bool,
    label_trailing_special: bool = False,
) -> list[int]:
    """Labels over tokenizer(text): a token's id where it overlaps an answer span, IGNORE_INDEX elsewhere. With
    `label_trailing_special`, special tokens the tokenizer appends after the text (eos, [SEP]) are labelled too:
    they end the answer the model must learn to stop."""
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    labels = []
    for tok_id, (s, e) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        inside = e > s and any(s < b and e > a for a, b in spans)
        labels.append(tok_id if inside else IGNORE_INDEX)
    if label_trailing_special:
        offsets = enc["offset_mapping"]
        end = len(labels)
        while end > 0 and offsets[end - 1][1] <= offsets[end - 1][0]:  # specials appended by the tokenizer
            end -= 1
        if end and labels[end - 1] != IGNORE_INDEX:
            labels[end:] = enc["input_ids"][end:]
    return labels


def align_labels(text_ids: list[int], text_labels: list[int], model_ids: list[int]) -> list[int]:
    """Labels for `model_ids` (the processor's ids: placeholders expanded) from labels over `text_ids` (the same
    text tokenised plainly). Expansion only touches image placeholders, so answer tokens match one to one; every
    labelled token must be found, or the sample is refused rather than silently trained on less."""
    out = [IGNORE_INDEX] * len(model_ids)
    wanted = sum(x != IGNORE_INDEX for x in text_labels)
    suffix = 0
    while suffix < min(len(text_ids), len(model_ids)) and text_ids[-1 - suffix] == model_ids[-1 - suffix]:
        suffix += 1
    shift = len(model_ids) - len(text_ids)
    first_label = next((i for i, x in enumerate(text_labels) if x != IGNORE_INDEX), len(text_ids))
    if first_label >= len(text_ids) - suffix:  # the usual case: every answer follows the last image
        for i in range(first_label, len(text_ids)):
            out[i + shift] = text_labels[i]
        return out
    found = 0
    matcher = difflib.SequenceMatcher(None, text_ids, model_ids, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            if text_labels[a + k] != IGNORE_INDEX:
                out[b + k] = text_labels[a + k]
                found += 1
    if found != wanted:
        raise DataError(
            f"{wanted - found} of {wanted} answer tokens could not be found in the processor's ids",
            "the processor changes answer text; report this model family",
        )
    return out
