"""A row with two images trains through RowDataset + FamilyCollator (twice the image tokens, two images' pixel
values, a finite loss that backpropagates) with a multi-image family, is refused and counted by a single-image
family, and stays an unpacked sample with both images in the ConversationDataset path."""

from __future__ import annotations

import io

import pytest
import torch

from vitcli.data.records import Record, record_features
from vitcli.modeling.families import Family
from vitcli.runtime.errors import DataError

WORDS = "which one is red the first second a square circle".split()


def png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (20, 12), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def tiny():
    """An in-process tiny LLaVA (vitcli's own compose), its processor, and a split with a 2-image row and two rows
    about one image."""
    from datasets import Dataset

    from vitcli.config import ModelConfig
    from vitcli.modeling.compose import build_processor, build_word_tokenizer, compose_tiny

    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16,
        patch_size=8,
        vision_hidden_size=32,
        vision_num_layers=1,
        vision_num_heads=2,
        text_hidden_size=32,
        text_num_layers=1,
        text_num_heads=2,
        text_intermediate_size=64,
    )
    tok = build_word_tokenizer([" ".join(WORDS)])
    model, processor = compose_tiny(cfg, tok), build_processor(tok, cfg.image_size, cfg.patch_size)
    red, blue = png((255, 0, 0)), png((0, 0, 255))
    records = [
        Record(
            "two",
            [blue, red],
            [
                {"role": "user", "content": "<image>\n<image>\nwhich one is red"},
                {"role": "assistant", "content": "the second"},
            ],
            "conversation",
            "test",
        ),
        Record(
            "one",
            [red],
            [{"role": "user", "content": "<image>\nwhich one is red"}, {"role": "assistant", "content": "the first"}],
            "conversation",
            "test",
        ),
        Record(
            "same",
            [red],
            [{"role": "user", "content": "<image>\na square"}, {"role": "assistant", "content": "a circle"}],
            "conversation",
            "test",
        ),
    ]
    rows = Dataset.from_list([r.to_row() for r in records], features=record_features())
    return model, processor, rows


def image_tokens(batch, processor) -> int:
    return int((batch["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<image>")).sum())


def test_two_image_row_trains_with_a_multi_image_family(tiny):
    from vitcli.modeling.adapter import FamilyAdapter
    from vitcli.training.rows import FamilyCollator, RowDataset

    model, processor, rows = tiny
    adapter = FamilyAdapter(processor, Family("llava-multi", ("llava",), multi_image=True))
    data = RowDataset(rows, adapter)
    assert len(data) == 3 and data.report.num_bad == 0 and len(data[0].images) == 2
    assert data[0].images[0].getpixel((0, 0)) == (0, 0, 255)  # in placeholder order
    collate = FamilyCollator(adapter)
    two, one = collate([data[0]]), collate([data[1]])
    assert image_tokens(two, processor) == 2 * image_tokens(one, processor) > 0
    assert two["pixel_values"].shape[0] == 2 and one["pixel_values"].shape[0] == 1
    loss = model(**collate([data[0], data[1]])).loss
    assert torch.isfinite(loss)
    loss.backward()
    assert model.model.multi_modal_projector.linear_1.weight.grad.abs().sum() > 0


def test_a_single_image_family_refuses_and_counts_the_row(tiny):
    from vitcli.modeling.adapter import FamilyAdapter
    from vitcli.modeling.families import FAMILIES
    from vitcli.training.rows import FamilyCollator, RowDataset
    from vitcli.training.samples import SampleLog

    _, processor, rows = tiny
    llava = next(f for f in FAMILIES if f.name == "llava")
    assert not llava.multi_image
    adapter = FamilyAdapter(processor, llava)
    collate = FamilyCollator(adapter)
    with pytest.raises(DataError, match="row 0 cannot train .2 images in one row") as err:
        SampleLog().take(collate([RowDataset(rows, adapter)[0]]))  # checked as the item is read
    assert "--skip-bad-samples" in err.value.hint
    kept = RowDataset(rows, adapter, skip_bad=True)
    assert kept[0].messages == kept[1].messages  # the next good row stands in for the bad one
    log = SampleLog()
    batch = log.take(collate([kept[i] for i in range(len(kept))]))
    assert batch["input_ids"].shape[0] == 3 and log.report.num_skipped == 1
    assert log.report.reasons == {"2 images in one row (llava takes one image per sample)": 1}


def test_conversation_dataset_keeps_a_two_image_row_whole(tiny):
    from vitcli.training.collate import Collator, ConversationDataset
    from vitcli.training.loop import count_image_tokens

    model, processor, rows = tiny
    n = count_image_tokens(processor)  # rows 1 and 2 share their image and pack; the two-image row stays alone
    data = ConversationDataset(rows, processor, n, pack_turns=4)
    assert len(data) == 2 and data.groups == [[0], [1, 2]]
    assert data[0]["input_ids"].count(processor.tokenizer.convert_tokens_to_ids("<image>")) == 2 * n
    batch = Collator(processor.tokenizer.pad_token_id)([data[0], data[1]])
    assert batch["pixel_values"].shape[0] == 3  # two images of row 0, one shared by the packed rows
    assert torch.isfinite(model(**batch).loss)
