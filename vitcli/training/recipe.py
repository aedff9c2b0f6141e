"""The tiny preset fitted to the data, and validation-based selection of the final checkpoint.

fit_to_data picks what the tiny preset used to fix for one world: the image size (median image side, to the
patch grid, 32..64 px), the epochs (a budget of sample passes: the 20 epochs x 10k rows the synthetic world
was tuned on) and the regularisation (dropout, weight decay, image shifts: on when the data has few distinct
images, which the epoch budget then repeats many times; see REGULARISED).
select_checkpoint=best evaluates on the validation split ~10 times and keeps the best checkpoint;
a dataset without a validation split gets one carved from train, by image, so no image is in both."""

from __future__ import annotations

import math
import statistics
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vitcli.config import TrainConfig
from vitcli.config_checks import FITTABLE  # noqa: F401 - the keys fit_to_data may list

SAMPLE_PASSES = 200_000  # rows x epochs the tiny preset was tuned with (10k synthetic rows x 20 epochs)
EPOCH_RANGE = (4, 40)
IMAGE_RANGE = (32, 64)  # px; beyond 64 the tiny tower's token count (and time) grows with no measured gain
SMALL_DATA_IMAGES = 1_000  # fewer distinct train images than this: regularise (the epoch budget repeats each 20+ times)
REGULARISED = {"model.dropout": 0.1, "weight_decay": 0.05, "augment_images": 0.0625}  # shifts of up to 1/16 side
EVALS_PER_RUN = 10
SELECTION_METRIC = "selection_score"  # eval_selection_score = VQA accuracy + CIDEr (see selection_score)


def fit_to_data(cfg: TrainConfig, train_rows: Any) -> dict[str, Any]:
    """Set the keys listed in cfg.fit_to_data from `train_rows`; returns {key: value} of what was chosen."""
    chosen: dict[str, Any] = {}
    keys = [k.strip() for k in cfg.fit_to_data.split(",") if k.strip()]
    if "model.image_size" in keys:
        cfg.model.image_size = chosen["model.image_size"] = fit_image_size(train_rows, cfg.model.patch_size)
    if "epochs" in keys and cfg.max_steps == 0:
        low, high = EPOCH_RANGE
        cfg.epochs = chosen["epochs"] = float(min(high, max(low, round(SAMPLE_PASSES / max(len(train_rows), 1)))))
    regularise = [k for k in REGULARISED if k in keys]
    if regularise:
        small = len(rows_per_image(train_rows)) < SMALL_DATA_IMAGES
        for key in regularise:
            value = REGULARISED[key] if small else 0.0
            owner, _, name = key.rpartition(".")
            setattr(cfg.model if owner else cfg, name, value)
            chosen[key] = value
    return chosen


def fit_image_size(rows: Any, patch: int, probe: int = 64) -> int:
    """The median side of up to `probe` train images (headers only), rounded to the patch grid, clamped."""
    from vitcli.data.records import undecoded_images
    from vitcli.runtime.images import open_image

    step = max(len(rows) // probe, 1)
    sample = undecoded_images(rows.select(range(0, len(rows), step)[:probe]).select_columns(["id", "images"]))
    sides = [min(open_image(cell, row["id"]).size) for row in sample for cell in row["images"][:1]]
    if not sides:
        return IMAGE_RANGE[1]
    side = round(statistics.median(sides) / patch) * patch
    return int(min(IMAGE_RANGE[1], max(IMAGE_RANGE[0], side)))


def carve_validation(train_rows: Any, ratio: float, seed: int) -> tuple[Any, Any]:
    """(train, validation): about `ratio` of the distinct images, with all their rows, moved to validation
    (at most 500 rows). Rows without an image path are assigned by id."""
    column = train_rows.with_format("arrow").select_columns(["id", "images"])[:]
    keys = []
    for rid, cells in zip(column["id"].to_pylist(), column["images"].to_pylist(), strict=True):
        first = cells[0] if cells else None
        keys.append((first or {}).get("path") or rid)
    cut = int(ratio * 10_000)
    held = [i for i, k in enumerate(keys) if zlib.crc32(f"{seed}:{k}".encode()) % 10_000 < cut][:500]
    held_set = set(held)
    kept = [i for i in range(len(keys)) if i not in held_set]
    return train_rows.select(kept), train_rows.select(held)


def eval_interval(cfg: TrainConfig, num_samples: int, world_size: int = 1) -> int:
    """Optimizer steps between evaluations so a run evaluates about EVALS_PER_RUN times."""
    per_step = cfg.per_device_batch_size * cfg.gradient_accumulation_steps * world_size
    steps = cfg.max_steps or math.ceil(num_samples / per_step) * cfg.epochs
    return max(1, int(steps // EVALS_PER_RUN))


def estimate_samples(train_rows: Any, pack_turns: int) -> int:
    """Training samples per epoch: rows, or with packing sum over images of ceil(rows of that image / pack_turns)."""
    if pack_turns <= 1:
        return len(train_rows)
    return sum(math.ceil(n / pack_turns) for n in rows_per_image(train_rows).values())


def rows_per_image(train_rows: Any) -> Counter:
    """Rows per distinct first image (rows without an image path count as their own image)."""
    column = train_rows.with_format("arrow").select_columns(["images"])[:]["images"].to_pylist()
    return Counter(((cells or [{}])[0] or {}).get("path") or i for i, cells in enumerate(column))


def selection_score(metrics: dict[str, float]) -> float | None:
    """VQA accuracy (0-100) + CIDEr (0-10): accuracy decides, and among equal accuracies better captions win.
    None when the evaluation produced neither (then selection falls back to the validation loss)."""
    parts = [metrics[k] for k in ("eval_vqa_accuracy", "eval_cider") if k in metrics]
    return float(sum(parts)) if parts else None


def best_metric(cfg: TrainConfig, validation_rows: Any) -> str:
    """The metric select_checkpoint=best compares: the selection score when this process generates validation
    answers (one process, unsharded, validation has vqa or caption rows), else the validation loss (every rank
    computes it, as the Trainer needs under torchrun)."""
    import os

    alone = int(os.environ.get("WORLD_SIZE", "1")) == 1 and not (cfg.deepspeed or cfg.fsdp)
    tasks = set(validation_rows.unique("task")) if validation_rows is not None else set()
    return SELECTION_METRIC if alone and tasks & {"vqa", "caption"} else "loss"


def plan_recipe(cfg: TrainConfig, data: Any, train_rows: Any, say: Callable[[str], None]) -> tuple[Any, str | None]:
    """Choose cfg.fit_to_data's keys from the data; for select_checkpoint=best hold out a validation split when the
    data has none (data["validation"] is set) and evaluate ~10 times. Returns (train rows, metric to select on)."""
    chosen = fit_to_data(cfg, train_rows)
    if chosen:
        say("chosen from the data: " + ", ".join(f"{k} {v:g}" for k, v in chosen.items()))
    if cfg.select_checkpoint != "best" and cfg.eval_every_steps <= 0:
        return train_rows, None
    if "validation" not in data or len(data["validation"]) == 0:
        train_rows, held = carve_validation(train_rows, cfg.validation_ratio, cfg.seed)
        if len(held) and len(train_rows):
            data["validation"] = held
            say(f"the dataset has no validation split: {len(held)} train rows of separate images are held out")
    if cfg.select_checkpoint != "best":
        return train_rows, None
    if "validation" not in data or len(data["validation"]) == 0:
        say("too few rows to hold out a validation split: the final model is the last step's")
        return train_rows, None
    if cfg.eval_every_steps <= 0:
        cfg.eval_every_steps = eval_interval(cfg, estimate_samples(train_rows, cfg.pack_turns))
    return train_rows, best_metric(cfg, data["validation"])


def selection_of(state: Any, metric: str | None) -> dict[str, Any]:
    """TrainResult fields for select_checkpoint=best, from the Trainer's state after load_best_model_at_end."""
    if metric is None or not state.best_model_checkpoint:
        return {}
    return {
        "selected_step": int(Path(state.best_model_checkpoint).name.rpartition("-")[2]),
        "selection_metric": metric,
        "selection_value": None if state.best_metric is None else round(float(state.best_metric), 4),
    }
