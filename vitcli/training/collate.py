"""Turn built-dataset rows into model inputs: encode and decode per item (lazily, in workers), pad and stack."""

from __future__ import annotations

from typing import Any

import torch

from vitcli.data.chat import IGNORE_INDEX, Encoded, encode_conversation
from vitcli.data.records import undecoded_images
from vitcli.modeling.families import IMAGE_TOKEN
from vitcli.runtime.images import open_image
from vitcli.training.samples import FATAL_KEY, PROBLEMS_KEY, TRUNCATED, check_encoded, estimate_lengths, problem_batch


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
    """Rows of a built dataset as (input_ids, labels, pixel_values), encoded per item (lazily, inside DataLoader
    workers: start-up reads Arrow columns only). With `pack_turns > 1`, an item is a group of up to that many rows
    sharing an image, which becomes one sample that encodes the image once and keeps the rows independent (see
    share_prefix); a pack stops before it would exceed `max_length`, and rows whose prefixes differ stay separate
    samples (`parts` of the same item, the image decoded once). Bad samples are an error, or with `skip_bad`
    dropped and counted (an item with none left is replaced by the next)."""

    def __init__(
        self,
        hf_split: Any,
        processor: Any,
        num_image_tokens: int,
        pack_turns: int = 1,
        max_length: int = 0,
        skip_bad: bool = False,
    ) -> None:
        self.rows = undecoded_images(hf_split)
        self.processor, self.num_image_tokens = processor, num_image_tokens
        self.pack_turns, self.max_length, self.skip_bad = pack_turns, max_length, skip_bad
        self.image_token_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.groups = group_by_image(self.rows, pack_turns) if pack_turns > 1 else None  # None: one row per item
        self.messages, self.images = self.rows.select_columns(["messages"]), self.rows.select_columns(["images"])

    def __len__(self) -> int:
        return len(self.groups) if self.groups is not None else len(self.rows)

    def group(self, i: int) -> list[int]:
        return self.groups[i] if self.groups is not None else [i]

    def encode_row(self, row_index: int) -> Encoded:
        messages = self.messages[row_index]["messages"]
        return encode_conversation(self.processor.tokenizer, messages, self.num_image_tokens)

    def encode_group(self, i: int) -> list[tuple[int, Encoded]]:
        """(first row, encoded sample) for each sample item `i` makes, before any max_length check or cut."""
        group = self.group(i)
        singles = {r: self.encode_row(r) for r in group}
        out = []
        while group:
            take, packed = len(group), None
            while take > 1:
                packed = share_prefix([singles[r] for r in group[:take]], self.image_token_id, self.num_image_tokens)
                if packed is None:  # no shared image prefix: the first row goes alone, the rest try again
                    take = 1
                elif self.max_length and len(packed.input_ids) > self.max_length:
                    take, packed = take - 1, None
                else:
                    break
            out.append((group[0], packed or singles[group[0]]))
            group = group[take:]
        return out

    def checked_group(self, i: int) -> tuple[list[tuple[int, Encoded]], list[tuple[str, str]]]:
        """Item `i`'s samples that can train (cut to max_length) and the (where, reason) of the others."""
        good, problems = [], []
        for row, enc in self.encode_group(i):
            enc, problem = check_encoded(enc, self.max_length, self.image_token_id)
            if problem is not None:
                problems.append((f"sample at row {row} ({len(enc.input_ids)} tokens)", problem))
            if problem in (None, TRUNCATED):
                good.append((row, enc))
        return good, problems

    def lengths(self) -> list[int]:
        """Token length estimates per item for length-grouped batches: each row from its characters and images
        (a fit on a few rows' text encodings, no images decoded), a group as its rows' sum less the repeated image."""
        per_row = estimate_lengths(self.rows, lambda r: len(self.encode_row(r).input_ids))
        if self.groups is None:
            return per_row
        n_img = self.num_image_tokens
        return [sum(per_row[r] for r in g) - n_img * (len(g) - 1) * (len(g) > 1) for g in self.groups]

    def __getitem__(self, i: int) -> dict[str, Any]:
        problems: list[tuple[str, str]] = []
        for step in range(len(self)):  # with skip_bad, an item left with no good sample gives way to the next
            good, met = self.checked_group((i + step) % len(self))
            problems += met
            fatal = [p for p in met if p[1] != TRUNCATED]
            if fatal and not self.skip_bad:
                return {PROBLEMS_KEY: fatal[:1], FATAL_KEY: True}
            if good:
                return self.item(good, problems)
        return {PROBLEMS_KEY: [(f"all {len(self)} samples", "none can train")], FATAL_KEY: True}

    def item(self, good: list[tuple[int, Encoded]], problems: list[tuple[str, str]]) -> dict[str, Any]:
        cells = self.images[good[0][0]]["images"]
        pixels = None
        if cells:  # one image per '<image>' of the row, in order; a group's samples share it
            images = [open_image(c) for c in cells]
            pixels = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
        parts = []
        for _, enc in good:
            part: dict[str, Any] = {"input_ids": enc.input_ids, "labels": enc.labels}
            if enc.segment_ids is not None:
                part["segment_ids"] = enc.segment_ids
            if pixels is not None:
                part["pixel_values"] = pixels
            parts.append(part)
        item = parts[0] if len(parts) == 1 else {"parts": parts}
        if problems:
            item[PROBLEMS_KEY] = problems
        return item


class Collator:
    """Right-pad ids (pad id) and labels (-100), build the attention mask, stack pixel values. Packed samples get a
    4D segment mask: boolean for SDPA, additive floats (0 / min) for eager attention, which adds it to the scores."""

    def __init__(self, pad_token_id: int, additive_mask: bool = False) -> None:
        self.pad_token_id = pad_token_id
        self.additive_mask = additive_mask

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        problems = [p for x in items for p in x.get(PROBLEMS_KEY, ())]
        if any(x.get(FATAL_KEY) for x in items):
            return problem_batch([p for x in items if x.get(FATAL_KEY) for p in x[PROBLEMS_KEY]])
        items = [part for x in items for part in x.get("parts", [x])]  # a group that did not pack whole
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
        if problems:
            batch[PROBLEMS_KEY] = problems
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
