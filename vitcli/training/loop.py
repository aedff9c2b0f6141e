"""Engine plumbing for train(): TrainingArguments from our config, the metrics.jsonl logger, image-token count."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from vitcli.config import TrainConfig
from vitcli.data.records import IMAGE_TOKEN


def make_training_args(cfg: TrainConfig, out: Path, device: str, dtype: Any):
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
        warmup_steps=cfg.warmup_ratio, lr_scheduler_type="cosine",
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        logging_steps=cfg.log_every_steps, logging_first_step=True, save_strategy="no",
        report_to=[], disable_tqdm=True, seed=cfg.seed, data_seed=cfg.seed,
        use_cpu=device == "cpu", bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16,
        dataloader_num_workers=0, remove_unused_columns=False, log_level="error",
    )


def count_image_tokens(processor: Any) -> int:
    """How many tokens one <image> expands to, asked of the processor itself."""
    from PIL import Image

    size = processor.image_processor.size
    dummy = Image.new("RGB", (size.get("width", 32), size.get("height", 32)))
    ids = processor(text=[IMAGE_TOKEN], images=[dummy], return_tensors="pt")["input_ids"][0]
    return int((ids == processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)).sum())


class MetricsLogger(TrainerCallback):
    """Append every logged step (loss, learning rate, grad norm) to metrics.jsonl on the main process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first_loss = math.nan
        self.last_loss = math.nan

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 (Trainer's signature)
        if not logs or not state.is_world_process_zero:
            return
        if "loss" in logs:
            self.last_loss = float(logs["loss"])
            if math.isnan(self.first_loss):
                self.first_loss = self.last_loss
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), **logs}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
