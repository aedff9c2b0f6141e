"""Training data for --arch encoder-decoder: built-dataset rows -> (pixel_values, caption labels).
Choice: caption rows only. The model captions without a prompt at inference (modeling/load.py), so it trains on
what it will be asked: labels are the first assistant answer of each `task == "caption"` row, plus end-of-text.
VQA/conversation rows are left out (counted in `skipped`); a dataset without caption rows is an error."""

from __future__ import annotations

from typing import Any

import torch

from vitcli.data.chat import IGNORE_INDEX
from vitcli.runtime.errors import DataError
from vitcli.training.collate import open_image


def first_answer(messages: list[dict[str, str]]) -> str | None:
    return next((m["content"] for m in messages if m["role"] == "assistant"), None)


class CaptionDataset(torch.utils.data.Dataset):
    """Caption rows as {'pixel_values', 'labels'}; the model builds decoder inputs by shifting labels right."""

    def __init__(self, hf_split: Any, processor: Any, max_length: int) -> None:
        self.rows = hf_split.cast_column("image", hf_split.features["image"].__class__(decode=False))
        self.processor = processor
        tok = processor.tokenizer
        self.keep: list[int] = []
        self.labels: list[list[int]] = []
        for i, (task, messages) in enumerate(zip(self.rows["task"], self.rows["messages"], strict=True)):
            answer = first_answer(messages)
            if task != "caption" or not answer:
                continue
            ids = tok(answer, add_special_tokens=False)["input_ids"][: max_length - 1] + [tok.eos_token_id]
            self.keep.append(i)
            self.labels.append(ids)
        self.skipped = len(self.rows) - len(self.keep)
        if not self.keep:
            raise DataError(f"no caption rows among {len(self.rows)} train rows; --arch encoder-decoder trains on "
                            "captions only", "build the dataset with caption data, or use --arch llava")

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, i: int) -> dict[str, Any]:
        image = open_image(self.rows[self.keep[i]]["image"])
        pixels = self.processor.image_processor(image, return_tensors="pt")["pixel_values"][0]  # (3, H, W)
        return {"pixel_values": pixels, "labels": self.labels[i]}


class CaptionCollator:
    """Stack pixels; pad labels with -100 (the model shifts them into decoder inputs, padding with pad id)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(x["labels"]) for x in items)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
        for row, x in enumerate(items):
            labels[row, : len(x["labels"])] = torch.tensor(x["labels"])
        return {"pixel_values": torch.stack([x["pixel_values"] for x in items]), "labels": labels}
