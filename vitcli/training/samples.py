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
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> count
    examples: list[str] = field(default_factory=list)  # "sample 3: ..." for the first few


def sample_problem(enc: Encoded, max_length: int, image_token_id: int) -> str | None:
    """Why this sample cannot train (after truncation to max_length), or None when it can."""
    if max_length > 0 and image_token_id in enc.input_ids[max_length:]:
        return "image tokens cut by --max-length"
    labels = enc.labels[:max_length] if max_length > 0 else enc.labels
    if all(x == IGNORE_INDEX for x in labels):
        if any(x != IGNORE_INDEX for x in enc.labels):
            return "answer cut off by --max-length"
        return "no answer tokens to learn (empty labels)"
    return None


def check_samples(dataset: Any, max_length: int, image_token_id: int, skip_bad: bool,
                  split: str = "train") -> SampleReport:
    """Truncate `dataset.encoded` in place to max_length; fail on bad samples, or drop them when skip_bad."""
    report = SampleReport(num_samples=len(dataset.encoded))
    keep = []
    for i, enc in enumerate(dataset.encoded):
        problem = sample_problem(enc, max_length, image_token_id)
        if problem:
            report.num_bad += 1
            report.reasons[problem] = report.reasons.get(problem, 0) + 1
            if len(report.examples) < 5:
                report.examples.append(f"{split} sample {i} ({len(enc.input_ids)} tokens): {problem}")
            continue
        if max_length > 0 and len(enc.input_ids) > max_length:
            report.num_truncated += 1
            enc = enc.truncated(max_length)
        keep.append((i, enc))
    if report.num_bad and not skip_bad:
        summary = ", ".join(f"{n} {r}" for r, n in report.reasons.items())
        raise DataError(f"{report.num_bad} of {report.num_samples} {split} samples cannot train ({summary}); "
                        f"first: {report.examples[0]}",
                        "raise --max-length, fix the rows, or pass --skip-bad-samples to drop them (counted)")
    report.num_skipped = report.num_bad
    dataset.image_rows = [dataset.image_rows[i] for i, _ in keep]
    dataset.encoded = [enc for _, enc in keep]
    if not dataset.encoded:
        raise DataError(f"no {split} samples left after dropping {report.num_bad} bad ones", "raise --max-length")
    return report

