"""`vitcli train`: parse flags into a TrainConfig, run training.run.train, render the TrainResult."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from transformers import TrainerCallback

from vitcli.cli import output
from vitcli.cli.options import ConfigFile, Device, Dtype, Json, Overwrite, Seed, Sets

HELP = """Train a vision-language model on a built dataset.

Example: vitcli train --data data/shapes --output runs/shapes --preset tiny"""


class ProgressCallback(TrainerCallback):
    """A rich progress bar on stderr with loss, rate and ETA (silent when stderr is not a terminal)."""

    def __init__(self) -> None:
        self._ctx: Any = None
        self._update: Any = None
        self._loss = float("nan")
        self._start = 0.0

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.is_world_process_zero:
            self._ctx = output.progress_bar("training", state.max_steps)
            self._update = self._ctx.__enter__()
            self._start = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if logs and "loss" in logs:
            self._loss = float(logs["loss"])

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self._update:
            rate = state.global_step / max(time.perf_counter() - self._start, 1e-9)
            self._update(1, info=f"loss {self._loss:.4f}  {rate:.2f} step/s")

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self._ctx:
            self._ctx.__exit__(None, None, None)
            self._ctx = self._update = None


def train_command(
    data: Annotated[str | None, typer.Option("--data", help="A dataset folder from `vitcli build-dataset`.")] = None,
    output_dir: Annotated[str | None, typer.Option("--output", help="Run folder: final model, metrics.jsonl, config.")] = None,
    preset: Annotated[str, typer.Option("--preset", help="Model and recipe preset: tiny | test.")] = "tiny",
    stage: Annotated[str | None, typer.Option("--stage", help="align (projector) | instruct (projector+LM) | full.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after N optimizer steps (overrides --epochs).")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the train split.")] = None,
    per_device_batch_size: Annotated[int | None, typer.Option("--per-device-batch-size", min=1)] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate")] = None,
    seed: Seed = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
    config: ConfigFile = None,
    sets: Sets = None,
    overwrite: Overwrite = False,
    as_json: Json = False,
) -> None:
    from vitcli.config import build_train_config
    from vitcli.training.run import train

    flags = {"data": data, "output": output_dir, "stage": stage, "max_steps": max_steps, "epochs": epochs,
             "per_device_batch_size": per_device_batch_size, "learning_rate": learning_rate, "seed": seed,
             "device": device, "dtype": dtype, "overwrite": overwrite or None}
    cfg = build_train_config(preset, config, sets or [], flags)
    output.quiet_libraries()
    result = train(cfg, callbacks=[ProgressCallback()])
    if as_json:
        output.emit_json(result.to_json())
        return
    rows = [("output", result.output), ("steps", result.global_step), ("epochs", round(result.epochs, 3)),
            ("first loss", result.first_loss), ("final loss", result.final_loss), ("seconds", result.seconds),
            ("samples/s", result.samples_per_second), ("parameters", result.num_parameters),
            ("trainable", sum(result.trainable_parameters.values()))]
    output.print_table("Training finished", rows, ("", "value"))
