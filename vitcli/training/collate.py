"""Turn built-dataset rows into model inputs: encode once, decode images lazily, pad and stack per batch."""

from __future__ import annotations

from typing import Any

import torch

from vitcli.data.chat import IGNORE_INDEX, Encoded, encode_conversation
from vitcli.data.records import undecoded_images
from vitcli.modeling.families import IMAGE_TOKEN
from vitcli.runtime.images import open_image


def group_by_image(rows: Any, max_turns: int) -> list[list[int]]:
    """Row indices grouped by their image's stored ref (content-addressed: one file per distinct image, so no
    hashing here), at most `max_turns` rows per group. Only single-image rows pack: text-only and multi-image
    rows stay alone. Datasets built before 0.2 embed bytes: those are hashed, as before."""
    import hashlib

    groups: dict[Any, list[int]] = {}
    for i, cells in enumerate(rows.with_format("arrow")["images"].to_pylist()):  # raw cells: no file is read
        if len(cells) != 1:
            key: Any = ("alone", i)
        elif cells[0]["bytes"] is None:
            key = ("ref", cells[0]["path"])
        else:
            key = ("bytes", hashlib.sha1(cells[0]["bytes"]).digest())
        groups.setdefault(key, []).append(i)
    return [members[s : s + max_turns] for members in groups.values() for s in range(0, len(members), max_turns)]


def share_prefix(encs: list[Encoded], image_token_id: int, num_image_tokens: int) -> Encoded | None:
    """One packed sample from conversations about the same image: their common prefix (template + image tokens)
    once, then each conversation's remainder as its own segment. With the segment mask (Collator) every answer
    sees exactly what it would see alone, at the same positions, so the loss equals the separate samples' loss
    while the image is encoded once. None when the prefix would not hold the whole image (or any answer)."""
    n = min(len(e.input_ids) for e in encs)
    first = encs[0].input_ids
    p = next((i for i in range(n) if any(e.input_ids[i] != first[i] for e in encs)), n)
    prefix = first[:p]
    if prefix.count(image_token_id) != num_image_tokens or any(x != IGNORE_INDEX for x in encs[0].labels[:p]):
        return None
    ids, labels, segments = list(prefix), [IGNORE_INDEX] * p, [0] * p
    for k, e in enumerate(encs, start=1):
        ids += e.input_ids[p:]
        labels += e.labels[p:]
        segments += [k] * (len(e.input_ids) - p)
    return Encoded(ids, labels, segments)


def position_ids_of(segment_ids: list[int]) -> list[int]:
    """Positions restart after the shared prefix for every segment: each conversation sits where it would alone."""
    prefix = segment_ids.count(0)
    pos, seen = [], {}
    for i, s in enumerate(segment_ids):
        if s == 0:
            pos.append(i)
        else:
            seen[s] = seen.get(s, 0) + 1
            pos.append(prefix + seen[s] - 1)
    return pos


class ConversationDataset(torch.utils.data.Dataset):
    """Rows of a built dataset as (input_ids, labels, pixel_values); text is encoded up front to catch bad rows.
    With `pack_turns > 1`, up to that many rows sharing an image become one sample that encodes the image once
    and keeps the rows independent (see share_prefix); a pack stops before it would exceed `max_length`, and rows
    whose prefixes differ stay separate samples."""

    def __init__(
        self, hf_split: Any, processor: Any, num_image_tokens: int, pack_turns: int = 1, max_length: int = 0
    ) -> None:
        self.rows = undecoded_images(hf_split)
        self.processor = processor
        tokenizer = processor.tokenizer
        singles = [encode_conversation(tokenizer, m, num_image_tokens) for m in self.rows["messages"]]
        self.image_rows, self.encoded = [], []
        groups = group_by_image(self.rows, pack_turns) if pack_turns > 1 else [[i] for i in range(len(singles))]
        image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        for group in groups:
            while group:
                take, packed = len(group), None
                while take > 1:
                    packed = share_prefix([singles[i] for i in group[:take]], image_token_id, num_image_tokens)
                    if packed is None:  # no shared image prefix: the first row goes alone, the rest try again
                        take = 1
                    elif max_length and len(packed.input_ids) > max_length:
                        take, packed = take - 1, None
                    else:
                        break
                self.image_rows.append(group[0])
                self.encoded.append(packed or singles[group[0]])
                group = group[take:]

    def __len__(self) -> int:
        return len(self.encoded)

    def lengths(self) -> list[int]:
        """Token length per sample (for length-grouped batches), without decoding any image."""
        return [len(enc.input_ids) for enc in self.encoded]

    def __getitem__(self, i: int) -> dict[str, Any]:
        enc = self.encoded[i]
        cells = self.rows[self.image_rows[i]]["images"]
        item = {"input_ids": enc.input_ids, "labels": enc.labels}
        if enc.segment_ids is not None:
            item["segment_ids"] = enc.segment_ids
        if cells:  # one image per '<image>' of the row, in order
            images = [open_image(c) for c in cells]
            item["pixel_values"] = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
        return item


class Collator:
    """Right-pad ids (pad id) and labels (-100), build the attention mask, stack pixel values. Packed samples get a
    4D segment mask: boolean for SDPA, additive floats (0 / min) for eager attention, which adds it to the scores."""

    def __init__(self, pad_token_id: int, additive_mask: bool = False) -> None:
        self.pad_token_id = pad_token_id
        self.additive_mask = additive_mask

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
        if any("segment_ids" in x for x in items):
            batch.update(segment_mask(items, width, self.additive_mask))
        pixels = [x["pixel_values"] for x in items if "pixel_values" in x]  # (n_images_of_row, C, H, W) each
        if pixels:
            batch["pixel_values"] = torch.cat(pixels)  # (N_images, C, H, W), in row order
        return batch


def segment_mask(items: list[dict[str, Any]], width: int, additive: bool = False) -> dict[str, torch.Tensor]:
    """4D attention mask and position ids for packed samples: a token sees earlier tokens of its own segment and
    the shared prefix (segment 0). Padding queries see segment 0 but not themselves (no empty row, and the mask's
    diagonal is the padding mask)."""
    seg = torch.full((len(items), width), -1, dtype=torch.long)  # (B, T); -1 = padding
    pos = torch.zeros((len(items), width), dtype=torch.long)
    for row, x in enumerate(items):
        s = x.get("segment_ids") or [0] * len(x["input_ids"])
        seg[row, : len(s)] = torch.tensor(s)
        pos[row, : len(s)] = torch.tensor(position_ids_of(s))
    q, k = seg.unsqueeze(2), seg.unsqueeze(1)  # (B, T, 1), (B, 1, T)
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    allowed = causal & (k >= 0) & ((k == 0) | (k == q))
    mask = allowed.unsqueeze(1)  # (B, 1, T, T)
    if additive:
        mask = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(torch.float32).min)
    return {"attention_mask": mask, "position_ids": pos}
