"""The lazy, parallel input pipeline: nothing is tokenised or decoded when a dataset is built (only Arrow columns are
read), items pickle (spawned DataLoader workers get them by pickle), N workers give the very batches and losses 0
workers give, length estimates track true lengths, and the worker count default follows the CPU count."""

from __future__ import annotations

import pickle

import pytest
import torch

from tests.training.conftest import losses
from vitcli.config import build_train_config
from vitcli.data.build import load_built_dataset
from vitcli.modeling.compose import compose_model
from vitcli.training.collate import Collator, ConversationDataset
from vitcli.training.loop import count_image_tokens


@pytest.fixture(scope="module")
def parts(tiny_dataset):
    cfg = build_train_config("test", None, [], {"data": str(tiny_dataset), "output": "unused"})
    rows = load_built_dataset(str(tiny_dataset))["train"]
    torch.manual_seed(0)
    model, processor = compose_model(cfg.model, (m["content"] for conv in rows["messages"] for m in conv))
    return model, processor, rows


def _row_set(parts, **kw):
    from vitcli.modeling.adapter import FamilyAdapter
    from vitcli.training.rows import FamilyCollator, RowDataset

    model, processor, rows = parts
    adapter = FamilyAdapter.for_model(model, processor)
    return RowDataset(rows, adapter, **kw), FamilyCollator(adapter, kw.get("max_length", 0))


def _packed_set(parts, pack_turns=5, **kw):
    _, processor, rows = parts
    data = ConversationDataset(rows, processor, count_image_tokens(processor), pack_turns, **kw)
    return data, Collator(processor.tokenizer.pad_token_id)


def _same_batch(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def test_building_a_dataset_encodes_nothing(parts, monkeypatch):
    import vitcli.training.collate as collate
    from vitcli.modeling.adapter import FamilyAdapter

    calls = {"encode": 0, "problem": 0, "encode_training": 0}

    def counting(name, fn):
        def wrapped(*a, **kw):
            calls[name] += 1
            return fn(*a, **kw)

        return wrapped

    monkeypatch.setattr(collate, "encode_conversation", counting("encode", collate.encode_conversation))
    monkeypatch.setattr(FamilyAdapter, "problem", counting("problem", FamilyAdapter.problem))
    monkeypatch.setattr(FamilyAdapter, "encode_training", counting("encode_training", FamilyAdapter.encode_training))
    packed, _ = _packed_set(parts, max_length=256)
    rows, _ = _row_set(parts, max_length=256)
    assert calls == {"encode": 0, "problem": 0, "encode_training": 0}
    assert len(packed) == 24 and len(rows) == 24 * 5
    packed[3]
    assert calls["encode"] == 5  # one item: the five rows of one image, and nothing else
    rows[7]
    assert calls["problem"] == 1 and calls["encode_training"] == 1  # one row, encoded once for its length check


@pytest.mark.parametrize("kind", ["packed", "rows"])
def test_items_pickle_and_read_the_same(parts, kind):
    data, collate = _packed_set(parts) if kind == "packed" else _row_set(parts, max_length=256)
    data2, collate2 = pickle.loads(pickle.dumps((data, collate)))  # what a spawned worker receives
    _same_batch(collate([data[0], data[5]]), collate2([data2[0], data2[5]]))


@pytest.mark.parametrize("kind", ["packed", "rows"])
def test_two_workers_give_the_batches_of_none(parts, kind):
    data, collate = _packed_set(parts) if kind == "packed" else _row_set(parts, max_length=256)

    def batches(workers: int) -> list[dict]:
        gen = torch.Generator().manual_seed(0)
        loader = torch.utils.data.DataLoader(
            data, batch_size=4, shuffle=True, generator=gen, collate_fn=collate, num_workers=workers
        )
        return [b for _, b in zip(range(4), loader, strict=False)]

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 4
    for a, b in zip(serial, parallel, strict=True):
        _same_batch(a, b)


def test_training_with_workers_logs_the_losses_of_training_without(make_cfg, tmp_path):
    from vitcli.training.run import train

    runs = {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        result = train(make_cfg(out, max_steps=3, dataloader_workers=workers, group_by_length=True))
        assert result.global_step == 3
        runs[workers] = losses(out)
    assert len(runs[0]) == 3 and runs[0] == pytest.approx(runs[2], abs=0, rel=1e-6)


@pytest.mark.parametrize("kind", ["packed", "rows"])
def test_length_estimates_follow_true_lengths(parts, kind):
    import numpy as np

    from vitcli.training.samples import message_chars

    data, collate = _packed_set(parts) if kind == "packed" else _row_set(parts)
    _, _, rows = parts
    assert message_chars(rows) == [sum(len(m["content"]) for m in conv) for conv in rows["messages"]]
    est = np.array(data.lengths(), dtype=float)
    if kind == "packed":  # a packed item's length: its samples' tokens
        true = np.array([sum(len(p["input_ids"]) for p in data[i].get("parts", [data[i]])) for i in range(len(data))])
    else:
        true = np.array([collate([data[i]])["input_ids"].shape[1] for i in range(len(data))])
    assert len(est) == len(data)
    assert np.abs(est - true).mean() / true.mean() < 0.1
    rank = lambda x: np.argsort(np.argsort(x, kind="stable"), kind="stable")  # noqa: E731
    assert np.corrcoef(rank(est), rank(true))[0, 1] > 0.8  # length grouping needs the order


@pytest.mark.parametrize(
    ("requested", "cores", "expected"), [(-1, 1, 0), (-1, 2, 1), (-1, 4, 3), (-1, 32, 8), (3, 1, 3)]
)
def test_default_worker_count_follows_the_cores(monkeypatch, requested, cores, expected):
    import os

    from vitcli.training.samples import resolve_dataloader_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert resolve_dataloader_workers(requested) == expected


def test_training_args_carry_workers_prefetch_and_pinning(tmp_path):
    from vitcli.training.loop import dataloader_args

    cfg = build_train_config("tiny", None, [], {"data": "d", "output": str(tmp_path), "dataloader_workers": 2})
    assert dataloader_args(cfg, "cuda:1") == {
        "dataloader_num_workers": 2,
        "dataloader_pin_memory": True,
        "dataloader_persistent_workers": True,
        "dataloader_prefetch_factor": 4,
    }
    cfg.dataloader_workers = 0
    args = dataloader_args(cfg, "cpu")
    assert args["dataloader_num_workers"] == 0 and not args["dataloader_pin_memory"]
    assert args["dataloader_prefetch_factor"] is None and not args["dataloader_persistent_workers"]


def test_skipped_samples_are_counted_after_training(make_cfg, parts, tmp_path):
    from vitcli.data.chat import IGNORE_INDEX
    from vitcli.training.run import train

    # Independent oracle: a row whose first answer token sits at or beyond max_length cannot train.
    data, collate = _row_set(parts)
    starts = []
    for i in range(len(data)):
        labels = collate([data[i]])["labels"][0].tolist()
        starts.append(next(k for k, x in enumerate(labels) if x != IGNORE_INDEX))
    limit = sorted(starts)[len(starts) // 3]  # about a third of the rows lose their answers
    expected = sum(s >= limit for s in starts)
    assert 0 < expected < len(starts)
    result = train(make_cfg(tmp_path / "run", max_length=limit, skip_bad_samples=True, max_steps=0, epochs=1.0))
    assert result.bad_samples == {"answer cut off by --max-length": expected}


def test_message_chars_reads_the_selected_rows():
    from datasets import Dataset

    from vitcli.training.samples import message_chars

    convs = [[{"role": "user", "content": "a" * i}, {"role": "assistant", "content": "bb"}] for i in range(10)]
    rows = Dataset.from_list([{"messages": c} for c in convs])
    assert message_chars(rows) == [i + 2 for i in range(10)]
    assert message_chars(rows.select([7, 2, 9])) == [9, 4, 11]  # an indices mapping, as max_train_samples makes
