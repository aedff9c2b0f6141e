"""Label checks over an encoded ConversationDataset, before any step runs: a sample whose answer labels come out
empty, or whose image tokens would be cut by --max-length, is an error (or, with --skip-bad-samples, dropped
and counted). Longer samples are truncated to --max-length. Nothing is ever masked silently."""

from __future__ import annotations

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


def check_samples(
    dataset: Any, max_length: int, image_token_id: int, skip_bad: bool, split: str = "train"
) -> SampleReport:
    """Truncate `dataset.encoded` in place to max_length; fail on bad samples, or drop them when skip_bad."""
    report = SampleReport(num_samples=len(dataset.encoded))
    keep = []
    for i, enc in enumerate(dataset.encoded):
        problem = sample_problem(enc, max_length, image_token_id)
        if problem:
            report.add_bad(problem, f"{split} sample {i} ({len(enc.input_ids)} tokens)")
            continue
        if max_length > 0 and len(enc.input_ids) > max_length:
            report.num_truncated += 1
            enc = enc.truncated(max_length)
        keep.append((i, enc))
    report.finish(skip_bad, split, bool(keep))
    dataset.image_rows = [dataset.image_rows[i] for i, _ in keep]
    dataset.encoded = [enc for _, enc in keep]
    return report
