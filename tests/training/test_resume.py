"""Resume equals uninterrupted: a run stopped (crash, SIGTERM, SIGKILL) and resumed with --resume ends with the
same weights and the same loss curve as a run that never stopped (float tolerance)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from transformers import TrainerCallback

from tests.training.conftest import assert_same_weights, losses, vitcli_cmd, vitcli_env

STEPS, SAVE = 12, 4


@pytest.fixture(scope="module")
def reference(tiny_dataset, tmp_path_factory) -> Path:
    """The uninterrupted run every resumed run is compared with."""
    from vitcli.config import build_train_config
    from vitcli.training.run import train

    out = tmp_path_factory.mktemp("ref") / "run"
    train(
        build_train_config(
            "test",
            None,
            [],
            {
                "data": str(tiny_dataset),
                "output": str(out),
                "device": "cpu",
                "tensorboard": False,
                "max_steps": STEPS,
                "save_every_steps": SAVE,
            },
        )
    )
    return out


class Crash(TrainerCallback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step == self.at:
            raise RuntimeError("simulated crash")


def assert_continues(run: Path, reference: Path) -> None:
    got, want = losses(run), losses(reference)
    assert sorted(got) == sorted(want) == list(range(1, STEPS + 1))
    for step in want:
        assert got[step] == pytest.approx(want[step], rel=1e-4, abs=1e-5), f"loss at step {step}"
    assert_same_weights(run, reference)


def test_crash_then_resume_equals_uninterrupted(make_cfg, reference, tmp_path):
    from vitcli.training.run import train

    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(make_cfg(out, max_steps=STEPS, save_every_steps=SAVE), callbacks=[Crash(at=6)])
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-4"]
    assert not (out / "config.json").exists()  # no final model from a crashed run
    result = train(make_cfg(out, max_steps=STEPS, save_every_steps=SAVE, resume=True))
    assert result.resumed_from.endswith("checkpoint-4")
    assert result.global_step == STEPS
    assert_continues(out, reference)


def test_resume_refuses_a_changed_run(make_cfg, reference, tmp_path):
    import shutil

    from vitcli.runtime.errors import ConfigError
    from vitcli.training.run import train

    out = tmp_path / "run"
    shutil.copytree(reference, out)
    with pytest.raises(ConfigError, match="learning_rate"):
        train(make_cfg(out, max_steps=STEPS, save_every_steps=SAVE, resume=True, learning_rate=0.5))
    with pytest.raises(ConfigError, match="'augment_images' \\(0.0 in the run, 0.1 now\\)"):
        train(make_cfg(out, max_steps=STEPS, save_every_steps=SAVE, resume=True, augment_images=0.1))
    with pytest.raises(ConfigError, match="'contrastive' \\('text' in the run, 'views' now\\)"):
        train(make_cfg(out, max_steps=STEPS, save_every_steps=SAVE, resume=True, contrastive="views"))


def test_resume_without_checkpoint_is_an_error(make_cfg, tmp_path):
    from vitcli.runtime.errors import ConfigError
    from vitcli.training.run import train

    with pytest.raises(ConfigError, match="no complete checkpoint"):
        train(make_cfg(tmp_path / "none", resume=True))


def _start(out: Path, tiny_dataset: Path) -> subprocess.Popen:
    args = [
        "train",
        "--data",
        str(tiny_dataset),
        "--output",
        str(out),
        "--preset",
        "test",
        "--device",
        "cpu",
        "--max-steps",
        str(STEPS),
        "--save-every-steps",
        str(SAVE),
        "--set",
        "tensorboard=false",
    ]
    return subprocess.Popen(
        vitcli_cmd(*args, slow_s=0.3), env=vitcli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"vitcli exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("timed out waiting for training progress")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_signal_saves_checkpoint_exits_130_and_resumes_exactly(sig, make_cfg, reference, tiny_dataset, tmp_path):
    from vitcli.training.run import train

    out = tmp_path / "run"
    proc = _start(out, tiny_dataset)
    _wait_for(lambda: max(losses(out), default=0) >= 2, proc)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted at step" in err and "--resume" in err
    stopped = max(losses(out))
    assert stopped < STEPS
    assert (out / "checkpoints" / f"checkpoint-{stopped}" / "trainer_state.json").is_file()
    assert not (out / "config.json").exists()
    result = train(make_cfg(out, max_steps=STEPS, save_every_steps=SAVE, resume=True))
    assert result.resumed_from.endswith(f"checkpoint-{stopped}")
    assert_continues(out, reference)


def test_sigkill_loses_only_steps_since_last_checkpoint(make_cfg, reference, tiny_dataset, tmp_path):
    from vitcli.training.run import train

    out = tmp_path / "run"
    proc = _start(out, tiny_dataset)
    done = out / "checkpoints" / f"checkpoint-{SAVE}" / "trainer_state.json"
    _wait_for(lambda: done.is_file() and max(losses(out), default=0) >= SAVE + 1, proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert max(losses(out)) > SAVE  # metrics.jsonl ran ahead of the checkpoint; resume trims it
    result = train(make_cfg(out, max_steps=STEPS, save_every_steps=SAVE, resume=True))
    assert result.resumed_from.endswith(f"checkpoint-{SAVE}") or result.resumed_from.endswith(f"checkpoint-{2 * SAVE}")
    assert_continues(out, reference)


@pytest.mark.parametrize("group_by_length", [False, True])
def test_resume_after_an_epoch_boundary_keeps_the_data_order(group_by_length, make_cfg, tmp_path):
    """Batch 4 over 20 samples = 5 steps per epoch: checkpoint 6 sits inside the second epoch."""
    from vitcli.training.run import train

    flags = {"max_steps": 8, "save_every_steps": 3, "max_train_samples": 20, "group_by_length": group_by_length}
    train(make_cfg(tmp_path / "ref", **flags))
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(make_cfg(out, **flags), callbacks=[Crash(at=7)])
    train(make_cfg(out, resume=True, **flags))
    got, want = losses(out), losses(tmp_path / "ref")
    assert sorted(got) == list(range(1, 9))
    assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert_same_weights(out, tmp_path / "ref")


def test_lora_run_resumes_exactly_and_exports_a_plain_model(make_cfg, tmp_path):
    """LoRA adapters (and the fully trained projector) survive a crash: the resumed run equals the uninterrupted
    one, and the exported folder is a merged LlavaForConditionalGeneration with no adapter files."""
    from transformers import AutoModelForImageTextToText

    from vitcli.training.run import train

    lora = {"lora": True, "stage": "instruct", "lora_r": 4, "lora_alpha": 8, "max_steps": 8, "save_every_steps": 4}
    ref = tmp_path / "ref"
    train(make_cfg(ref, **lora))
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(make_cfg(out, **lora), callbacks=[Crash(at=6)])
    result = train(make_cfg(out, **lora, resume=True))
    assert result.resumed_from.endswith("checkpoint-4") and result.global_step == 8
    got, want = losses(out), losses(ref)
    for step in want:
        assert got[step] == pytest.approx(want[step], rel=1e-4, abs=1e-5), f"loss at step {step}"
    assert_same_weights(out, ref)
    assert not any("adapter" in p.name for p in out.iterdir())
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert not any("lora" in n for n, _ in model.named_parameters())
