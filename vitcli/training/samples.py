"""Label checks on each sample as it is encoded (lazily, in DataLoader workers): a sample whose answer labels come
out empty, or whose image tokens would be cut by --max-length, is an error (or, with --skip-bad-samples, replaced by
the next good one and counted). Longer samples are truncated to --max-length. Nothing is ever masked silently.
Also: cheap length estimates for length-grouped batches, and the DataLoader worker count."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vitcli.data.chat import IGNORE_INDEX, Encoded
from vitcli.runtime.errors import DataError


@dataclass
class SampleReport:
    num_samples: int = 0
    num_truncated: int = 0
    num_bad: int = 0
    num_skipped: int = 0
    left_out: int = 0  # rows of a task the model does not train on (image-only captioners and VQA rows)
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> count
    examples: list[str] = field(default_factory=list)  # "sample 3: ..." for the first few

    def add_bad(self, problem: str, where: str) -> None:
        self.num_bad += 1
        self.reasons[problem] = self.reasons.get(problem, 0) + 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {problem}")

    def finish(self, skip_bad: bool, split: str, any_left: bool) -> None:
        """Bad samples are an error unless skip_bad (then counted as skipped); none left is always an error."""
        if self.num_bad and not skip_bad:
            summary = ", ".join(f"{n} {r}" for r, n in self.reasons.items())
            raise DataError(
                f"{self.num_bad} of {self.num_samples} {split} samples cannot train ({summary}); "
                f"first: {self.examples[0]}",
                "raise --max-length, fix the rows, or pass --skip-bad-samples to drop them (counted)",
            )
        self.num_skipped = self.num_bad
        if not any_left:
            left = f" ({self.left_out} rows of tasks this model does not train on)" if self.left_out else ""
            raise DataError(
                f"no {split} samples left after dropping {self.num_bad} bad ones{left}",
                "raise --max-length, or train on rows this model can learn from",
            )


def sample_problem(enc: Encoded, max_length: int, image_token_id: int | set[int]) -> str | None:
    """Why this sample cannot train (after truncation to max_length), or None when it can."""
    image_ids = image_token_id if isinstance(image_token_id, set) else {image_token_id}
    if max_length > 0 and image_ids & set(enc.input_ids[max_length:]):
        return "image tokens cut by --max-length"
    labels = enc.labels[:max_length] if max_length > 0 else enc.labels
    if all(x == IGNORE_INDEX for x in labels):
        if any(x != IGNORE_INDEX for x in enc.labels):
            return "answer cut off by --max-length"
        return "no answer tokens to learn (empty labels)"
    return None


PROBLEMS_KEY = "vitcli_sample_problems"  # batch key: (where, reason) of samples met on the way; never a model input
FATAL_KEY = "vitcli_sample_fatal"  # batch key set when a bad sample must stop training (no --skip-bad-samples)


def problem_batch(problems: list[tuple[str, str]]) -> dict[str, Any]:
    """A batch that carries only a fatal sample problem to the main process, which raises it (see SampleLog): an
    exception raised inside a DataLoader worker would reach the user as a wrapped traceback, not Error/Hint."""
    import torch

    return {"labels": torch.full((1, 1), IGNORE_INDEX), PROBLEMS_KEY: problems, FATAL_KEY: True}


class SampleLog:
    """Main-process side of the lazy sample checks: pops the problem keys a collator put in a batch, raises the
    first fatal one as a DataError, and counts skipped samples (each sample once) into a SampleReport."""

    def __init__(self, report: SampleReport | None = None, split: str = "train") -> None:
        self.report = report or SampleReport()
        self.split = split
        self.seen: set[tuple[str, str]] = set()

    def take(self, batch: dict[str, Any]) -> dict[str, Any]:
        problems = batch.pop(PROBLEMS_KEY, None) or []
        fatal = batch.pop(FATAL_KEY, False)
        if fatal:
            where, reason = problems[0]
            raise DataError(
                f"{self.split} {where} cannot train ({reason})",
                "raise --max-length, fix the rows, or pass --skip-bad-samples to drop them (counted)",
            )
        for where, reason in problems:
            if (where, reason) in self.seen:
                continue
            self.seen.add((where, reason))
            if reason == TRUNCATED:
                self.report.num_truncated += 1
                continue
            self.report.add_bad(reason, where)
            self.report.num_skipped = self.report.num_bad
        return batch


def resolve_dataloader_workers(requested: int) -> int:
    """DataLoader worker processes: `requested` when >= 0, else one per spare core (cores - 1, at most 8; 0 on a
    single core, where a worker would only compete with the training loop)."""
    import os

    if requested >= 0:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(8, cores - 1))


TRUNCATED = "truncated to --max-length"  # a note, not a problem: the sample trains, cut to max_length


def check_encoded(enc: Encoded, max_length: int, image_token_id: int | set[int]) -> tuple[Encoded, str | None]:
    """(the sample cut to max_length, None) when it can train, or (it, why not)."""
    problem = sample_problem(enc, max_length, image_token_id)
    if problem is None and max_length > 0 and len(enc.input_ids) > max_length:
        return enc.truncated(max_length), TRUNCATED
    return enc, problem


def message_chars(rows: Any) -> list[int]:
    """Characters of all message contents per row, read from the Arrow column (no per-row Python objects)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = rows.with_format("arrow")["messages"]
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    content = pc.struct_field(pc.list_flatten(col), "content")
    if not pa.types.is_string(content.type) and not pa.types.is_large_string(content.type):
        return [sum(len(str(m["content"])) for m in conv) for conv in rows["messages"]]
    lengths = pc.fill_null(pc.utf8_length(content), 0).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
    return np.bincount(parents, weights=lengths, minlength=len(rows)).astype(int).tolist()


def estimate_lengths(rows: Any, measure: Callable[[int], int], sample_size: int = 32) -> list[int]:
    """Token length estimates per row for length-grouped batches, without tokenising the dataset: a least-squares
    fit of tokens ~ a * characters + b * images + c on `sample_size` rows spread over the split, measured exactly
    by `measure(row_index)`. Grouping needs the order of lengths, not their exact values."""
    import numpy as np

    from vitcli.data.records import image_counts

    chars, images = message_chars(rows), image_counts(rows)
    n = len(chars)
    picks = sorted({round(k * (n - 1) / max(1, sample_size - 1)) for k in range(min(n, sample_size))})
    design = np.array([[chars[i], images[i], 1.0] for i in picks], dtype=float)
    truth = np.array([measure(i) for i in picks], dtype=float)
    coef = np.linalg.lstsq(design, truth, rcond=None)[0]
    est = np.array(chars, dtype=float) * coef[0] + np.array(images, dtype=float) * coef[1] + coef[2]
    return np.maximum(1, np.rint(est)).astype(int).tolist()
