"""Graceful interruption: SIGINT/SIGTERM set a flag; at the next optimizer-step boundary the Trainer saves a
checkpoint and stops, and train() raises Interrupted (exit 130). A second signal stops at once. Under DDP the
flag is all-reduced each step so every rank stops (and saves) at the same step."""

from __future__ import annotations

import signal
import threading
from typing import Any

from transformers import TrainerCallback

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal(TrainerCallback):
    def __init__(self) -> None:
        self.requested = False
        self.stopped_at: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread (e.g. not inside a notebook worker)
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        if self.requested:  # a second Ctrl-C: the user does not want to wait for the step to end
            raise KeyboardInterrupt
        self.requested = True

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 (Trainer's signature)
        if self._agreed(args):
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control

    def _agreed(self, args: Any) -> bool:
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or args.world_size <= 1:
            return self.requested
        flag = torch.tensor([int(self.requested)], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
