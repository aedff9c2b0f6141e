"""`vitcli train` through the CLI: --config YAML with flags overriding, --json output, exit codes, and the same
command under `torchrun --nproc_per_node 2` (CPU, gloo) training and saving one model."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from tests.training.conftest import vitcli_env
from vitcli.cli.app import app

runner = CliRunner()


def _json_line(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def test_config_file_with_flags_overriding(tiny_dataset, tmp_path):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        "max_steps: 2\nlearning_rate: 0.002\nsave_every_steps: 1\nkeep_last_checkpoints: 1\n"
        "tensorboard: false\nmodel:\n  text_hidden_size: 16\n"
    )
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(tiny_dataset),
            "--output",
            str(out),
            "--preset",
            "test",
            "--device",
            "cpu",
            "--config",
            str(cfg),
            "--max-steps",
            "3",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    result = _json_line(res.stdout)
    assert result["global_step"] == 3  # the flag beats the file
    assert result["config"]["learning_rate"] == 0.002 and result["config"]["model"]["text_hidden_size"] == 16
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-3"]
    assert json.loads((out / "train_config.json").read_text())["max_steps"] == 3
    assert "vitcli_version" in result and result["memory_estimate_gib"] > 0


def test_resume_via_cli_and_errors(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    base = [
        "train",
        "--data",
        str(tiny_dataset),
        "--output",
        str(out),
        "--preset",
        "test",
        "--device",
        "cpu",
        "--set",
        "tensorboard=false",
        "--save-every-steps",
        "2",
    ]
    assert runner.invoke(app, [*base, "--max-steps", "2"]).exit_code == 0
    again = runner.invoke(app, [*base, "--max-steps", "4"])
    assert again.exit_code == 1 and "already exists" in again.stderr and "--overwrite" in again.stderr
    res = runner.invoke(app, [*base, "--max-steps", "4", "--resume", "--json"])
    assert res.exit_code == 0, res.output
    result = _json_line(res.stdout)
    assert result["global_step"] == 4 and result["resumed_from"].endswith("checkpoint-2")
    bad = runner.invoke(app, [*base, "--max-steps", "4", "--resume-from", str(tmp_path / "nope")])
    assert bad.exit_code == 1 and "not a complete training checkpoint" in bad.stderr


def test_bad_samples_are_an_error_unless_skipped(tiny_dataset, tmp_path):
    base = [
        "train",
        "--data",
        str(tiny_dataset),
        "--preset",
        "test",
        "--device",
        "cpu",
        "--max-steps",
        "1",
        "--set",
        "tensorboard=false",
        "--max-length",
        "10",
    ]
    res = runner.invoke(app, [*base, "--output", str(tmp_path / "a")])
    assert res.exit_code == 1 and "cannot train" in res.stderr and "--skip-bad-samples" in res.stderr


def test_torchrun_two_processes_train_and_save_one_model(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    import socket

    with socket.socket() as s:  # torchrun's --master_port 0 hangs the static rendezvous; pick a free port
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        port,
        "-m",
        "vitcli",
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
        "2",
        "--set",
        "tensorboard=false",
        "--json",
    ]
    proc = subprocess.run(
        cmd, env={**vitcli_env(), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=180, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _json_line(proc.stdout)  # one result line: rank 0 only
    assert result["global_step"] == 2
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert not (out / "training_args.bin").exists() and not list(out.glob(".final.tmp*"))
    from transformers import AutoModelForImageTextToText

    AutoModelForImageTextToText.from_pretrained(str(out))


def test_show_samples_renders_what_trains_and_writes_nothing(tiny_dataset, tmp_path):
    """--show-samples: the rendered samples with trained spans marked, token counts that add up, no run folder."""
    out = tmp_path / "run"
    base = ["train", "--data", str(tiny_dataset), "--output", str(out), "--preset", "test", "--device", "cpu"]
    res = runner.invoke(app, [*base, "--show-samples", "2", "--json"])
    assert res.exit_code == 0, res.output
    views = [json.loads(line) for line in res.stdout.splitlines()]
    assert [v["index"] for v in views] == [0, 1]
    for v in views:
        assert v["text_tokens"] + v["image_tokens"] == v["num_tokens"] and v["image_tokens"] == 16  # 32 px / 8 px
        assert v["trained_tokens"] > 0 and v["rendered"].count("[[") >= 1 and "<image x 16>" in v["rendered"]
        assert v["rendered"].rstrip().endswith("<|im_end|>]]")  # the answer and its end of turn carry the loss
    assert not out.exists()
    packed = runner.invoke(app, [*base, "--set", "pack_turns=5", "--show-samples", "1"])
    assert packed.exit_code == 0 and packed.stdout.startswith("--- sample 0:")
    assert packed.stdout.count("[[") == 5  # the five rows of one image: five answers, one image prefix
