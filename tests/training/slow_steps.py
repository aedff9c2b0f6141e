"""`python slow_steps.py SECONDS vitcli-args...`: the real `vitcli` CLI with each training step slowed down by
SECONDS, so interruption tests can signal a run while it is mid-training. Test-only; nothing in vitcli knows."""

import sys
import time

from transformers import Trainer

_step = Trainer.training_step
delay = float(sys.argv.pop(1))


def slow_step(self, *args, **kwargs):
    time.sleep(delay)
    return _step(self, *args, **kwargs)


Trainer.training_step = slow_step

from vitcli.cli.app import main  # noqa: E402

sys.argv[0] = "vitcli"
main()
