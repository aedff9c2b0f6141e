"""The run folder around Trainer checkpoints: which checkpoint to resume from, whether a resumed run is the same
run, and trimming metrics.jsonl back to the checkpoint so the loss curve continues without duplicates."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from vitcli.runtime.errors import ConfigError

CHECKPOINTS = "checkpoints"
COMPLETE_MARKER = "trainer_state.json"  # the Trainer writes it last: a checkpoint without it was cut short
# Keys that change the model, the data order or the optimisation: a resumed run must not change them.
SAME_RUN_KEYS = (
    "data",
    "model",
    "stage",
    "seed",
    "per_device_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "vision_learning_rate",
    "projector_learning_rate",
    "weight_decay",
    "warmup_ratio",
    "max_length",
    "max_train_samples",
    "pack_turns",
    "group_by_length",
    "contrastive",
    "contrastive_weight",
    "contrastive_temperature",
    "augment_images",
    "skip_bad_samples",
)


def checkpoint_step(path: Path) -> int:
    m = re.fullmatch(r"checkpoint-(\d+)", path.name)
    return int(m.group(1)) if m else -1


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint under RUN/checkpoints (a kill -9 mid-save leaves an incomplete one)."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if checkpoint_step(p) >= 0 and (p / COMPLETE_MARKER).is_file()]
    return max(done, key=checkpoint_step, default=None)


def remove_incomplete_checkpoints(run_dir: Path) -> list[str]:
    root = run_dir / CHECKPOINTS
    gone = []
    for p in root.iterdir() if root.is_dir() else []:
        if checkpoint_step(p) >= 0 and not (p / COMPLETE_MARKER).is_file():
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p.name)
    return gone


def resolve_resume(run_dir: Path, resume: bool, resume_from: str | None) -> Path | None:
    """The checkpoint folder to continue from, or None for a fresh run; a ConfigError when there is none."""
    if resume_from:
        ckpt = Path(resume_from)
        if not (ckpt / COMPLETE_MARKER).is_file():
            raise ConfigError(
                f"'{ckpt}' is not a complete training checkpoint (no {COMPLETE_MARKER})",
                f"pass a folder such as {run_dir / CHECKPOINTS}/checkpoint-N, or use --resume",
            )
        return ckpt
    if not resume:
        return None
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise ConfigError(
            f"no complete checkpoint under '{run_dir / CHECKPOINTS}' to resume from",
            "train with --save-every-steps N (or interrupt with Ctrl-C, which saves), then --resume",
        )
    return ckpt


def check_same_run(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """A resumed run must keep what decides the weights and the data order; say which key changed."""
    changed = [k for k in SAME_RUN_KEYS if k in saved and saved.get(k) != current.get(k)]
    if changed:
        k = changed[0]
        raise ConfigError(
            f"--resume with a different '{k}' ({saved[k]!r} in the run, {current[k]!r} now)",
            "resume with the same flags as the original run (only --max-steps, --epochs, logging, "
            "saving and evaluation cadence may change)",
        )


def trim_metrics(path: Path, step: int) -> None:
    """Drop metrics.jsonl rows logged after `step` (steps a kill -9 lost), so the resumed curve continues."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and _row_step(line) <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    tmp.replace(path)


def _row_step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 1 << 62  # a torn last line from a kill: drop it
