"""Shared-image packing: rows about one image train as one sample that encodes the image once, yet every answer
sees exactly what it would see alone (same tokens, same positions), so the loss is the separate samples' loss."""

from __future__ import annotations

import pytest
import torch

from vitcli.config import build_train_config
from vitcli.data.build import load_built_dataset
from vitcli.data.chat import IGNORE_INDEX
from vitcli.modeling.compose import compose_model
from vitcli.training.collate import Collator, ConversationDataset, position_ids_of
from vitcli.training.loop import count_image_tokens


def _model_and_sets(tiny_dataset):
    cfg = build_train_config("test", None, [], {"data": str(tiny_dataset), "output": "unused"})
    rows = load_built_dataset(str(tiny_dataset))["train"]
    torch.manual_seed(0)
    model, processor = compose_model(cfg.model, (m["content"] for conv in rows["messages"] for m in conv))
    n_img = count_image_tokens(processor)
    packed, singles = ConversationDataset(rows, processor, n_img, 5), ConversationDataset(rows, processor, n_img)
    return model.eval(), processor, packed, singles


def _token_losses(model, batch) -> torch.Tensor:
    """Sum of per-token cross entropies over labelled tokens, one value per sample."""
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
    shift, target = logits[:, :-1], batch["labels"][:, 1:]
    ce = torch.nn.functional.cross_entropy(shift.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")
    return ce.sum(1)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_loss_equals_separate_rows(tiny_dataset, attention):
    model, processor, packed, singles = _model_and_sets(tiny_dataset)
    model.set_attn_implementation(attention)
    assert len(packed) == 24 and len(singles) == 24 * 5  # one sample per scene instead of five
    collate = Collator(processor.tokenizer.pad_token_id, additive_mask=attention == "eager")
    for i in (0, 7):  # a packed sample against the five separate rows it came from
        image = singles.rows[packed.groups[i][0]]["images"]
        group = [j for j in range(len(singles)) if singles.rows[j]["images"] == image]
        assert group == packed.groups[i]  # a group is the five rows of one image
        together = _token_losses(model, collate([packed[i], packed[(i + 1) % len(packed)]]))[0]
        apart = _token_losses(model, collate([singles[j] for j in group])).sum()
        assert torch.allclose(together, apart, rtol=1e-4), (together, apart)
        labelled = sum(x != IGNORE_INDEX for x in packed[i]["labels"])
        assert labelled == sum(x != IGNORE_INDEX for j in group for x in singles[j]["labels"])


def test_segment_mask_hides_other_rows_and_padding():
    collate = Collator(pad_token_id=0)
    batch = collate(
        [
            {"input_ids": [5, 6, 7, 8, 9], "labels": [IGNORE_INDEX] * 5, "segment_ids": [0, 0, 1, 2, 2]},
            {"input_ids": [5, 6], "labels": [IGNORE_INDEX] * 2},
        ]
    )
    mask, pos = batch["attention_mask"][:, 0], batch["position_ids"]
    assert mask.shape == (2, 5, 5) and mask.dtype == torch.bool
    assert mask[0, 3].tolist() == [True, True, False, True, False]  # segment 2 sees the prefix, not segment 1
    assert mask[0, 2].tolist() == [True, True, True, False, False]
    assert pos[0].tolist() == [0, 1, 2, 2, 3] and pos[1].tolist() == [0, 1, 0, 0, 0]
    assert mask[1, 1].tolist() == [True, True, False, False, False]  # unpacked: plain causal
    assert mask[1, 3].tolist() == [True, True, False, False, False]  # padding query: real tokens, never empty
    assert mask[1].diagonal().tolist() == [True, True, False, False, False]  # diagonal = padding mask
    assert position_ids_of([0, 0, 0, 1, 1, 2]) == [0, 1, 2, 3, 4, 3]


def test_rows_without_the_shared_image_prefix_or_over_max_length_stay_apart(tiny_dataset):
    from datasets import Dataset

    split = load_built_dataset(str(tiny_dataset))["train"]
    rows = split.select(range(5)).to_list()  # one scene: its caption and four questions
    rows[1]["messages"] = [
        {"role": "user", "content": "Look first.\n<image>\nWhat is it?"},
        {"role": "assistant", "content": "a shape"},
    ]  # image after text: no shared image prefix
    _, processor, _, _ = _model_and_sets(tiny_dataset)
    n_img = count_image_tokens(processor)
    ds = ConversationDataset(Dataset.from_list(rows, features=split.features), processor, n_img, 5)
    assert len(ds) == 1  # one image: one item, which splits into samples when read
    encoded = ds.encode_group(0)
    assert [e.segment_ids is None for _, e in encoded] == [True, True, False]  # rows 0 and 1 alone, 2-4 packed
    assert [r for r, _ in encoded] == [0, 1, 2] and max(encoded[2][1].segment_ids) == 3
    parts = ds[0]["parts"]  # the item carries the three samples, the image decoded once for all of them
    assert [p["input_ids"] for p in parts] == [e.input_ids for _, e in encoded]
    assert parts[0]["pixel_values"] is parts[2]["pixel_values"]
    whole = ConversationDataset(split.select(range(5)), processor, n_img, 5).encode_group(0)
    limit = len(whole[0][1].input_ids) - 1  # one token short of the full pack
    capped = ConversationDataset(split.select(range(5)), processor, n_img, 5, max_length=limit).encode_group(0)
    assert len(capped) == 2 and all(len(e.input_ids) <= limit for _, e in capped)
    assert sum(x != IGNORE_INDEX for _, e in capped for x in e.labels) == sum(
        x != IGNORE_INDEX for x in whole[0][1].labels
    )  # nothing lost, just split
    batch = Collator(processor.tokenizer.pad_token_id)([ds[0]])
    assert batch["input_ids"].shape[0] == 3 and batch["pixel_values"].shape[0] == 3  # parts become rows
