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


def make_trainer_class():
    """Trainer with per-part learning rates (vision tower / projector / LM), as LLaVA's mm_projector_lr does."""
    from collections import defaultdict

    from transformers import Trainer

    class VitcliTrainer(Trainer):
        def __init__(self, *args: Any, lr_by_part: dict[str, float] | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lr_by_part = {k: v for k, v in (lr_by_part or {}).items() if v is not None}

        def create_optimizer(self, model=None):  # noqa: ANN001
            opt = super().create_optimizer(model)
            if not self.lr_by_part or self.is_deepspeed_enabled:
                return opt
            inner = (model or self.model).model
            part_of = {id(p): part for part in self.lr_by_part for p in getattr(inner, part).parameters()}
            groups = []
            for g in opt.param_groups:
                by_part = defaultdict(list)
                for p in g["params"]:
                    by_part[part_of.get(id(p))].append(p)
                for part, params in by_part.items():
                    groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": params,
                                   "lr": self.lr_by_part.get(part, g["lr"])})
            opt.param_groups = []  # no optimizer state exists yet, so regrouping is safe
            for g in groups:
                opt.add_param_group(g)
            return opt

    return VitcliTrainer
