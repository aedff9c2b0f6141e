"""Turn built-dataset rows into model inputs: encode once, decode images lazily, pad and stack per batch."""

from __future__ import annotations

import io
from typing import Any

import torch
from PIL import Image, ImageOps

from vitcli.data.chat import IGNORE_INDEX, encode_conversation


def open_image(data: Any) -> Image.Image:
    """A datasets Image cell (dict with bytes, or a PIL image) -> upright RGB PIL image."""
    if isinstance(data, Image.Image):
        img = data
    else:
        img = Image.open(io.BytesIO(data["bytes"]))
    return ImageOps.exif_transpose(img).convert("RGB")


class ConversationDataset(torch.utils.data.Dataset):
    """Rows of a built dataset as (input_ids, labels, pixel_values); text is encoded up front to catch bad rows."""

    def __init__(self, hf_split: Any, processor: Any, num_image_tokens: int) -> None:
        self.rows = hf_split.cast_column("image", hf_split.features["image"].__class__(decode=False))
        self.processor = processor
        self.encoded = [encode_conversation(processor.tokenizer, m, num_image_tokens) for m in self.rows["messages"]]

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, i: int) -> dict[str, Any]:
        enc = self.encoded[i]
        image = self.rows[i]["image"]
        item = {"input_ids": enc.input_ids, "labels": enc.labels}
        if image is not None:
            item["pixel_values"] = self.processor.image_processor(open_image(image), return_tensors="pt")["pixel_values"][0]
        return item


class Collator:
    """Right-pad ids (pad id) and labels (-100), build the attention mask, stack pixel values."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(x["input_ids"]) for x in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)  # (B, T)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, x in enumerate(items):
            n = len(x["input_ids"])
            ids[row, :n] = torch.tensor(x["input_ids"])
            labels[row, :n] = torch.tensor(x["labels"])
            mask[row, :n] = 1
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        pixels = [x["pixel_values"] for x in items if "pixel_values" in x]
        if pixels:
            batch["pixel_values"] = torch.stack(pixels)  # (N_images, C, H, W)
        return batch
