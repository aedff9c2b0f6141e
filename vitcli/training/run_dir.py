"""The run folder's life: create it (or reopen it for --resume, every rank checking before any writes) and move the
final model in atomically, config.json last, so a folder never looks loadable before every weight is on disk."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from vitcli.config import TrainConfig, to_dict

RUN_CONFIG = "train_config.json"  # the fully resolved vitcli config (config.json is the model's)
METRICS = "metrics.jsonl"
LOSS_CURVE = "loss_curve.png"
RUN_ARTIFACTS = ("checkpoints", METRICS, "tensorboard", LOSS_CURVE)  # cleared by --overwrite (fresh runs only)


def open_run_dir(cfg: TrainConfig, out: Path, resuming: bool, main: bool) -> Path | None:
    """Create (or, for --resume, reopen) the run folder; returns the checkpoint to resume from. Every rank checks
    before any rank writes, so under torchrun no rank trips over another's folder."""
    from vitcli.config import train_config_from_dict
    from vitcli.runtime.io import read_json
    from vitcli.training.checkpoints import (
        check_same_run,
        remove_incomplete_checkpoints,
        resolve_resume,
        trim_metrics,
    )

    ckpt = resolve_resume(out, cfg.resume, cfg.resume_from) if resuming else None
    if ckpt is not None and (out / RUN_CONFIG).is_file():
        saved = to_dict(train_config_from_dict(read_json(out / RUN_CONFIG)))
        check_same_run(saved, to_dict(cfg))
    barrier()
    if main:
        if ckpt is None:
            for name in RUN_ARTIFACTS if cfg.overwrite else ():
                shutil.rmtree(out / name, ignore_errors=True) if (out / name).is_dir() else (out / name).unlink(
                    missing_ok=True
                )
        else:
            remove_incomplete_checkpoints(out)
            trim_metrics(out / METRICS, checkpoint_step(ckpt))
        out.mkdir(parents=True, exist_ok=True)
    barrier()
    return ckpt


def checkpoint_step(ckpt: Path) -> int:
    import json as _json

    return int(_json.loads((ckpt / "trainer_state.json").read_text())["global_step"])


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def save_final_model(trainer: Any, processor: Any, out: Path) -> None:
    """Write model + processor into a temporary sibling, then move files in with config.json last, so a run
    folder never looks loadable before every weight is on disk."""
    tmp = out / ".final.tmp"
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))  # every rank: FSDP / ZeRO-3 gather the sharded weights here
    if not trainer.is_world_process_zero():
        return
    (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle: never ship one in a model folder
    processor.save_pretrained(str(tmp))
    files = sorted(tmp.iterdir(), key=lambda p: p.name == "config.json")
    for f in files:
        f.replace(out / f.name)
    tmp.rmdir()
