"""Training data for any model family: built-dataset rows as adapter Samples, images decoded per item, encoded per
batch by the family adapter (the processor expands placeholders and makes every model input; labels cover the
answers only). Rows a family cannot train on are counted by reason before any step; nothing is dropped silently."""

from __future__ import annotations

from typing import Any

import torch

from vitcli.data.records import undecoded_images
from vitcli.modeling.adapter import FamilyAdapter, Sample, to_structured
from vitcli.runtime.errors import DataError
from vitcli.runtime.images import open_image
from vitcli.training.samples import SampleReport


class RowDataset(torch.utils.data.Dataset):
    """Rows of a built dataset as Samples. Rows of tasks the family does not train on (an image-only captioner and
    VQA rows) are left out and counted in `report.left_out`; rows that cannot train are an error, or with
    `skip_bad` dropped and counted."""

    def __init__(
        self, hf_split: Any, adapter: FamilyAdapter, skip_bad: bool = False, split: str = "train", max_length: int = 0
    ) -> None:
        self.rows = undecoded_images(hf_split)
        self.adapter = adapter
        self.report = SampleReport(num_samples=len(self.rows))
        self.keep: list[int] = []
        for i, (messages, task) in enumerate(zip(self.rows["messages"], self.rows["task"], strict=True)):
            if not adapter.family.takes_prompt and task != "caption":
                self.report.left_out += 1
                continue
            problem = adapter.problem(messages, task)
            if problem is None and max_length > 0:
                problem = self.length_problem(i, max_length)
            if problem is None:
                self.keep.append(i)
                continue
            self.report.add_bad(problem, f"{split} row {i}")
        self.report.finish(skip_bad, split, bool(self.keep))

    def length_problem(self, i: int, max_length: int) -> str | None:
        """With --max-length, each row is encoded once up front (images included: their token count depends on
        the processor), so cut image tokens or answers are found before any step, as for packed samples."""
        from vitcli.data.chat import Encoded
        from vitcli.training.samples import sample_problem

        if self.adapter.family.encoder_decoder:  # the decoder reads labels only: they are cut to max_length
            return None
        batch = self.adapter.encode_training([self.sample(i)])
        enc = Encoded(batch["input_ids"][0].tolist(), batch["labels"][0].tolist())
        problem = sample_problem(enc, max_length, self.adapter.image_token_ids())
        self.report.num_truncated += problem is None and len(enc.input_ids) > max_length
        return problem

    def sample(self, row_index: int) -> Sample:
        row = self.rows[row_index]
        images = [open_image(cell, row["id"]) for cell in row["images"]]  # one per '<image>', in order
        return Sample(to_structured(row["messages"]), images, row["task"])

    def __len__(self) -> int:
        return len(self.keep)

    def lengths(self) -> list[int]:
        """A cheap length per sample for length-grouped batches: characters of text (no tokenising, no images)."""
        return [sum(len(str(m["content"])) for m in self.rows[i]["messages"]) for i in self.keep]

    def __getitem__(self, i: int) -> Sample:
        return self.sample(self.keep[i])


class FamilyCollator:
    """A batch of Samples -> the family's model inputs with answer-only labels, right-padded."""

    def __init__(self, adapter: FamilyAdapter, max_length: int = 0) -> None:
        self.adapter = adapter
        self.max_length = max_length

    def __call__(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        if not samples:
            raise DataError("an empty batch", "report this")
        return self.adapter.encode_training(samples, self.max_length)
