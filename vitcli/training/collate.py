"""Turn built-dataset rows into model inputs: encode once, decode images lazily, pad and stack per batch."""

from __future__ import annotations

import io
import random
from typing import Any

import torch
from PIL import Image, ImageOps

from vitcli.data.chat import IGNORE_INDEX, encode_conversation
from vitcli.data.records import IMAGE_TOKEN


def open_image(data: Any) -> Image.Image:
    """A datasets Image cell (dict with bytes, or a PIL image) -> upright RGB PIL image."""
    if isinstance(data, Image.Image):
        img = data
    else:
        img = Image.open(io.BytesIO(data["bytes"]))
    return ImageOps.exif_transpose(img).convert("RGB")


def pack_by_image(rows: Any, max_turns: int, seed: int) -> list[tuple[int, list[dict[str, str]]]]:
    """Group rows that share an image into multi-turn conversations (as LLaVA-1.5 does with VQA data), so the
    image is encoded once per group. Turn order is shuffled (seeded); groups hold at most `max_turns` rows.
    Returns (row index whose image to use, messages) per packed sample."""
    import hashlib

    groups: dict[bytes, list[int]] = {}
    for i, cell in enumerate(rows["image"]):
        key = hashlib.sha1(cell["bytes"]).digest() if cell else f"text-{i}".encode()
        groups.setdefault(key, []).append(i)
    rng = random.Random(seed)
    all_messages = rows["messages"]
    packed = []
    for members in groups.values():
        rng.shuffle(members)  # every task must appear as the first turn too: evaluation asks single-turn
        for start in range(0, len(members), max_turns):
            chunk = members[start:start + max_turns]
            messages: list[dict[str, str]] = []
            for n, i in enumerate(chunk):
                for m in all_messages[i]:
                    content = m["content"]
                    if n > 0 and m["role"] == "user":
                        content = content.replace(IMAGE_TOKEN + "\n", "").replace(IMAGE_TOKEN, "")
                    messages.append({"role": m["role"], "content": content})
            packed.append((chunk[0], messages))
    return packed


class ConversationDataset(torch.utils.data.Dataset):
    """Rows of a built dataset as (input_ids, labels, pixel_values); text is encoded up front to catch bad rows.
    With `pack_turns > 1`, rows sharing an image become one multi-turn sample (see pack_by_image)."""

    def __init__(self, hf_split: Any, processor: Any, num_image_tokens: int, pack_turns: int = 1, seed: int = 0) -> None:
        self.rows = hf_split.cast_column("image", hf_split.features["image"].__class__(decode=False))
        self.processor = processor
        if pack_turns > 1:
            samples = pack_by_image(self.rows, pack_turns, seed)
        else:
            samples = list(enumerate(self.rows["messages"]))
        self.image_rows = [i for i, _ in samples]
        self.encoded = [encode_conversation(processor.tokenizer, m, num_image_tokens) for _, m in samples]

    def __len__(self) -> int:
        return len(self.encoded)

    def lengths(self) -> list[int]:
        """Token length per sample (for length-grouped batches), without decoding any image."""
        return [len(enc.input_ids) for enc in self.encoded]

    def __getitem__(self, i: int) -> dict[str, Any]:
        enc = self.encoded[i]
        image = self.rows[self.image_rows[i]]["image"]
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
