"""`train --show-samples N`: render the first N training samples exactly as the model will see them (after the
family's template, placeholder expansion and packing), with the tokens that carry loss marked [[like this]], and
count text, image and trained tokens. Nothing is trained or written: the first check for a new family or template."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vitcli.config import TrainConfig
from vitcli.modeling.labels import IGNORE_INDEX


@dataclass
class SampleView:
    index: int
    rendered: str  # the decoded sample; trained spans in [[ ]], runs of image tokens as <image x N>
    num_tokens: int
    text_tokens: int
    image_tokens: int
    trained_tokens: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def show_samples(cfg: TrainConfig, count: int) -> list[SampleView]:
    """The first `count` train samples of `cfg`, encoded by the same code path training uses."""
    from vitcli.data.build import load_built_dataset
    from vitcli.data.records import message_texts
    from vitcli.modeling.adapter import FamilyAdapter
    from vitcli.modeling.compose import compose_model
    from vitcli.runtime.errors import DataError
    from vitcli.training.recipe import fit_to_data

    data = load_built_dataset(cfg.data)
    if "train" not in data or len(data["train"]) == 0:
        raise DataError(f"dataset '{cfg.data}' has no train rows", "build it with more --num-train rows")
    rows = data["train"]
    fit_to_data(cfg, rows)  # the image size training would choose
    model, processor = compose_model(cfg.model, message_texts(rows))
    adapter = FamilyAdapter.for_model(model, processor)
    image_ids = adapter.image_token_ids()
    views = []
    for i, (ids, labels) in enumerate(encoded_samples(cfg, rows, model, processor, adapter, count)):
        views.append(
            SampleView(
                i,
                render_marked(processor.tokenizer, ids, labels, image_ids),
                len(ids),
                sum(t not in image_ids for t in ids),
                sum(t in image_ids for t in ids),
                sum(x != IGNORE_INDEX for x in labels),
            )
        )
    return views


def encoded_samples(
    cfg: TrainConfig, rows: Any, model: Any, processor: Any, adapter: Any, count: int
) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) of the first `count` samples: packed conversations, or adapter batches of one."""
    if cfg.pack_turns > 1:
        from vitcli.training.run import packed_data

        train_set = packed_data(dataclasses.replace(cfg, eval_every_steps=0), {}, rows, model, processor)[0]
        packed = []
        for i in range(len(train_set)):  # items are encoded lazily: only as many as shown
            packed += [(e.input_ids, e.labels) for _, e in train_set.checked_group(i)[0]]
            if len(packed) >= count:
                break
        return packed[:count]
    from vitcli.training.rows import RowDataset
    from vitcli.training.samples import TRUNCATED

    train_set = RowDataset(rows, adapter, skip_bad=True, max_length=cfg.max_length)
    out = []
    for row_index in train_set.keep:  # rows are checked lazily: only until `count` good ones are found
        sample, problem = train_set.checked(row_index)
        if sample is None or problem not in (None, TRUNCATED):
            continue
        batch = adapter.encode_training([sample], cfg.max_length)
        out.append((batch["input_ids"][0].tolist(), batch["labels"][0].tolist()))
        if len(out) == count:
            break
    return out


def render_marked(tokenizer: Any, ids: list[int], labels: list[int], image_ids: set[int]) -> str:
    """Decode runs of tokens; trained runs inside [[ ]], image-token runs as <image x N>."""
    pairs = zip(ids, labels, strict=True)
    kinds = ["image" if t in image_ids else "trained" if y != IGNORE_INDEX else "text" for t, y in pairs]
    parts, start = [], 0
    for k in range(1, len(ids) + 1):
        if k < len(ids) and kinds[k] == kinds[start]:
            continue
        run = ids[start:k]
        if kinds[start] == "image":
            parts.append(f"<image x {len(run)}>")
        else:
            text = tokenizer.decode(run, skip_special_tokens=False)
            parts.append(f"[[{text}]]" if kinds[start] == "trained" else text)
        start = k
    return "".join(parts)
