"""Training data for any model family: built-dataset rows as adapter Samples, read, checked and decoded per item
(lazily, inside DataLoader workers: start-up reads Arrow columns only), encoded per batch by the family adapter
(the processor expands placeholders and makes every model input; labels cover the answers only). Rows a family
cannot train on are counted by reason; nothing is dropped silently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vitcli.data.records import undecoded_images
from vitcli.modeling.adapter import FamilyAdapter, Sample, to_structured
from vitcli.runtime.errors import DataError
from vitcli.runtime.images import open_image
from vitcli.training.samples import (
    PROBLEMS_KEY,
    TRUNCATED,
    SampleReport,
    check_encoded,
    estimate_lengths,
    problem_batch,
)


@dataclass
class CheckedSample(Sample):
    """A Sample plus what its check met on the way: (where, reason) of rows skipped for it (or its own fatal
    problem, then `fatal`), carried to the main process through the batch."""

    problems: tuple[tuple[str, str], ...] = ()
    fatal: bool = False


class RowDataset(torch.utils.data.Dataset):
    """Rows of a built dataset as Samples. Rows of tasks the family does not train on (an image-only captioner and
    VQA rows) are left out up front from the `task` column and counted in `report.left_out`. Every other check runs
    when an item is read: a row that cannot train is an error, or with `skip_bad` replaced by the next good row."""

    def __init__(
        self, hf_split: Any, adapter: FamilyAdapter, skip_bad: bool = False, split: str = "train", max_length: int = 0
    ) -> None:
        self.rows = undecoded_images(hf_split)
        self.adapter, self.skip_bad, self.split, self.max_length = adapter, skip_bad, split, max_length
        self.report = SampleReport(num_samples=len(self.rows))
        self.keep: Any = range(len(self.rows))
        if not adapter.family.takes_prompt:
            self.keep = [i for i, task in enumerate(self.rows.select_columns(["task"])["task"]) if task == "caption"]
            self.report.left_out = len(self.rows) - len(self.keep)
        if not self.keep:
            self.report.finish(skip_bad, split, False)

    def checked(self, row_index: int) -> tuple[Sample | None, str | None]:
        """(the row as a Sample, None), or (None / the sample, why it cannot train, or TRUNCATED). With --max-length
        the row is encoded alone once (images included: their token count depends on the processor), so cut image
        tokens or answers are found before its batch is built."""
        from vitcli.data.chat import Encoded

        row = self.rows[row_index]
        problem = self.adapter.problem(row["messages"], row["task"])
        if problem is not None:
            return None, problem
        sample = self.sample_of(row)
        if self.max_length <= 0 or self.adapter.family.encoder_decoder:  # enc-dec labels are cut to max_length
            return sample, None
        batch = self.adapter.encode_training([sample])
        enc = Encoded(batch["input_ids"][0].tolist(), batch["labels"][0].tolist())
        return sample, check_encoded(enc, self.max_length, self.adapter.image_token_ids())[1]

    @staticmethod
    def sample_of(row: dict[str, Any]) -> Sample:
        images = [open_image(cell, row["id"]) for cell in row["images"]]  # one per '<image>', in order
        return Sample(to_structured(row["messages"]), images, row["task"])

    def sample(self, row_index: int) -> Sample:
        return self.sample_of(self.rows[row_index])

    def __len__(self) -> int:
        return len(self.keep)

    def lengths(self) -> list[int]:
        """Token length estimates per sample for length-grouped batches (characters and image counts from the
        Arrow columns, scaled by a fit on a few rows encoded exactly): no tokenising of the dataset."""
        kept = self.rows.select(self.keep) if len(self.keep) < len(self.rows) else self.rows

        def measure(i: int) -> int:
            batch = self.adapter.encode_training([self.sample_of(kept[i])])
            return int(batch["input_ids"].shape[1])

        return estimate_lengths(kept, measure)

    def __getitem__(self, i: int) -> CheckedSample:
        problems: list[tuple[str, str]] = []
        for step in range(len(self.keep)):  # with skip_bad, the next good row stands in for a bad one
            row_index = self.keep[(i + step) % len(self.keep)]
            sample, problem = self.checked(row_index)
            if problem is not None:
                problems.append((f"row {row_index}", problem))
            if sample is not None and problem in (None, TRUNCATED):
                return CheckedSample(sample.messages, sample.images, sample.task, tuple(problems))
            if not self.skip_bad:
                return CheckedSample([], [], "caption", tuple(problems[-1:]), fatal=True)
        none_left = (f"all {len(self.keep)} rows", f"none can train; first: {problems[0][1]}")
        return CheckedSample([], [], "caption", (none_left,), fatal=True)


class FamilyCollator:
    """A batch of Samples -> the family's model inputs with answer-only labels, right-padded; what the samples' checks
    met rides along under PROBLEMS_KEY for the main process (VitcliTrainer pops it before the model sees the batch)."""

    def __init__(self, adapter: FamilyAdapter, max_length: int = 0) -> None:
        self.adapter = adapter
        self.max_length = max_length

    def __call__(self, samples: list[Sample]) -> dict[str, Any]:
        if not samples:
            raise DataError("an empty batch", "report this")
        fatal = [p for s in samples if getattr(s, "fatal", False) for p in s.problems]
        if fatal:
            return problem_batch(fatal)
        problems = [p for s in samples for p in getattr(s, "problems", ())]
        plain = [Sample(s.messages, s.images, s.task) for s in samples]
        batch = self.adapter.encode_training(plain, self.max_length)
        if problems:
            batch[PROBLEMS_KEY] = problems
        return batch
