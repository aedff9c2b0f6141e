"""train(cfg) -> TrainResult: the recipe, as a numbered list of calls. The engine is transformers' Trainer, so the
same command runs under torchrun / accelerate launch (DDP, FSDP, DeepSpeed) with no code of ours in between."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitcli.config import TrainConfig, to_dict
from vitcli.runtime.errors import ConfigError, DataError
from vitcli.runtime.io import check_output_free, write_json

RUN_CONFIG = "train_config.json"  # the fully resolved vitcli config (config.json is the model's)
METRICS = "metrics.jsonl"


@dataclass
class TrainResult:
    output: str
    global_step: int
    epochs: float
    first_loss: float
    final_loss: float
    seconds: float
    samples_per_second: float
    num_parameters: int
    trainable_parameters: dict[str, int]
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def train(cfg: TrainConfig, callbacks: list[Any] | None = None) -> TrainResult:
    import torch
    from transformers.trainer_callback import PrinterCallback

    from vitcli.data.build import load_built_dataset
    from vitcli.modeling.compose import compose_model
    from vitcli.modeling.freeze import TRAINABLE_FILE, merge_lora, prepare_model
    from vitcli.runtime.device import resolve_device, resolve_dtype, seed_everything
    from vitcli.training.collate import Collator, ConversationDataset
    from vitcli.training.loop import MetricsLogger, count_image_tokens, make_trainer_class, make_training_args

    # 1. Check inputs and outputs before any heavy work.
    out = Path(cfg.output or "")
    if not cfg.output:
        raise ConfigError("no output directory given", "pass --output RUN_DIR")
    check_output_free(out, cfg.overwrite, "--output")
    data = load_built_dataset(cfg.data)
    if "train" not in data or len(data["train"]) == 0:
        raise DataError(f"dataset '{cfg.data}' has no train rows", "build it with more --num-train rows")
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    seed_everything(cfg.seed)
    train_rows = data["train"]
    if cfg.max_train_samples:
        train_rows = train_rows.select(range(min(cfg.max_train_samples, len(train_rows))))

    # 2. Compose the model (tiny from configs, from pretrained parts, or an existing VLM).
    texts = (m["content"] for conv in train_rows["messages"] for m in conv)
    model, processor = compose_model(cfg.model, texts)
    tokenizer = processor.tokenizer

    # 3. Choose what trains, encode the data (answer-only labels), set up the engine.
    model, plan = prepare_model(model, cfg)  # stage freezing, LoRA wrapping; plan lists what trains
    trainable = plan.trainable
    if cfg.model.arch == "encoder-decoder":
        from vitcli.training.encoder_decoder import CaptionCollator, CaptionDataset

        train_set, collator = CaptionDataset(train_rows, processor, cfg.max_length), CaptionCollator(tokenizer)
    else:
        train_set = ConversationDataset(train_rows, processor, count_image_tokens(processor), cfg.pack_turns, cfg.seed)
        collator = Collator(tokenizer.pad_token_id)
    if shutil.disk_usage(out.parent if out.parent.exists() else Path.cwd()).free < 1 << 28:
        raise ConfigError(f"less than 256 MiB free beside '{out}'", "free some disk space")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN_CONFIG, to_dict(cfg))
    write_json(out / TRAINABLE_FILE, plan.to_json())
    args = make_training_args(cfg, out, device, dtype)
    logger = MetricsLogger(out / METRICS)
    lr_by_part = {"vision_tower": cfg.vision_learning_rate, "multi_modal_projector": cfg.projector_learning_rate}
    trainer = make_trainer_class()(model=model, args=args, train_dataset=train_set, lr_by_part=lr_by_part,
                                   data_collator=collator,
                                   callbacks=[logger, *(callbacks or [])])
    trainer.remove_callback(PrinterCallback)  # stdout is for results; progress goes through our callbacks

    # 4. Train, then save a standard checkpoint (safetensors + config + processor + chat template) atomically.
    start = time.perf_counter()
    stats = trainer.train()
    seconds = time.perf_counter() - start
    trainer.model = merge_lora(trainer.model)  # LoRA runs export a plain model, adapters merged
    save_final_model(trainer, processor, out)
    torch.set_grad_enabled(True)
    return TrainResult(
        output=str(out), global_step=stats.global_step, epochs=float(trainer.state.epoch or 0.0),
        first_loss=logger.first_loss, final_loss=logger.last_loss, seconds=round(seconds, 2),
        samples_per_second=round(stats.global_step * args.train_batch_size * args.gradient_accumulation_steps
                                 * args.world_size / max(seconds, 1e-9), 2),
        num_parameters=sum(p.numel() for p in model.parameters()), trainable_parameters=trainable,
        config=json.loads(json.dumps(to_dict(cfg))))


def save_final_model(trainer: Any, processor: Any, out: Path) -> None:
    """Write model + processor into a temporary sibling, then move files in with config.json last, so a run
    folder never looks loadable before every weight is on disk."""
    if not trainer.is_world_process_zero():
        return
    tmp = out / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle: never ship one in a model folder
    processor.save_pretrained(str(tmp))
    files = sorted(tmp.iterdir(), key=lambda p: p.name == "config.json")
    for f in files:
        f.replace(out / f.name)
    tmp.rmdir()
