"""Training batches for families whose labels are not a span of the input text: encoder-decoders (Florence-2: the
question goes to the encoder, the answer is the label; VisionEncoderDecoder: pixels in, caption out) and PaliGemma's
prefix-LM (its processor builds labels and token_type_ids from suffix=). Used by FamilyAdapter.encode_training."""

from __future__ import annotations

from typing import Any

from vitcli.modeling.labels import IGNORE_INDEX


def answer_labels(adapter: Any, answers: list[str], max_length: int = 0) -> Any:
    """(B, T) label ids of each answer, eos-terminated (kept when cut to max_length), right-padded with IGNORE_INDEX."""
    import torch

    tok = adapter.tokenizer
    rows = [tok(a + adapter.eos_text(), add_special_tokens=True)["input_ids"] for a in answers]
    if max_length > 0:
        rows = [r if len(r) <= max_length else r[: max_length - 1] + r[-1:] for r in rows]
    labels = torch.full((len(rows), max(map(len, rows))), IGNORE_INDEX, dtype=torch.long)
    for i, r in enumerate(rows):
        labels[i, : len(r)] = torch.tensor(r)
    return labels


def exchanges(adapter: Any, samples: list[Any]) -> tuple[list[str | None], list[str]]:
    from vitcli.modeling.adapter import first_exchange

    pairs = [first_exchange(s.messages) for s in samples]
    return [adapter.question(q, s.task) for (q, _), s in zip(pairs, samples, strict=True)], [a for _, a in pairs]


def encode_image_only(adapter: Any, samples: list[Any], max_length: int = 0) -> dict[str, Any]:
    _, answers = exchanges(adapter, samples)
    pixels = adapter.processor.image_processor(images=[s.images[0] for s in samples], return_tensors="pt")
    return {"pixel_values": pixels["pixel_values"], "labels": answer_labels(adapter, answers, max_length)}


def encode_seq2seq(adapter: Any, samples: list[Any], max_length: int = 0) -> dict[str, Any]:
    questions, answers = exchanges(adapter, samples)
    batch = dict(
        adapter.processor(
            text=[q or "" for q in questions], images=[s.images[0] for s in samples], padding=True, return_tensors="pt"
        )
    )
    batch["labels"] = answer_labels(adapter, answers, max_length)
    return batch


def encode_prefix_lm(adapter: Any, samples: list[Any]) -> dict[str, Any]:
    questions, answers = exchanges(adapter, samples)
    return dict(
        adapter.processor(
            text=[q or "" for q in questions],
            images=[s.images[0] for s in samples],
            suffix=answers,
            padding=True,
            return_tensors="pt",
        )
    )
