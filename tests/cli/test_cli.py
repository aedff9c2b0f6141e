"""Each subcommand end to end through CliRunner: exit codes, parsed --json output, and bad-input errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vitcli import __version__
from vitcli.cli.app import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_help_lists_every_command_with_an_example():
    res = invoke("--help")
    assert res.exit_code == 0
    for cmd in ("build-dataset", "train", "eval", "caption"):
        assert cmd in res.output
        assert f"vitcli {cmd} " in res.output  # an example line per command
    assert invoke("--version").output.strip() == f"vitcli {__version__}"


def test_build_train_eval_caption_pipeline(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    res = invoke(
        "build-dataset",
        "synthetic",
        "--out",
        str(data),
        "--num-train",
        "12",
        "--num-val",
        "2",
        "--num-test",
        "3",
        "--image-size",
        "32",
        "--json",
    )
    assert res.exit_code == 0, res.output
    report = json_lines(res.stdout)[0]
    assert report["counts"] == {"train": 60, "validation": 10, "test": 15}
    assert report["vitcli_version"] == __version__

    res = invoke(
        "train",
        "--data",
        str(data),
        "--output",
        str(run),
        "--preset",
        "test",
        "--max-steps",
        "2",
        "--device",
        "cpu",
        "--json",
    )
    assert res.exit_code == 0, res.output
    result = json_lines(res.stdout)[0]
    assert result["global_step"] == 2 and result["output"] == str(run)
    assert (run / "config.json").is_file() and (run / "model.safetensors").is_file()

    res = invoke(
        "eval",
        "--model",
        str(run),
        "--data",
        str(data),
        "--task",
        "vqa",
        "--device",
        "cpu",
        "--json",
        "--per-item",
        str(tmp_path / "items.jsonl"),
    )
    assert res.exit_code == 0, res.output
    out = json_lines(res.stdout)[0]
    assert out["task"] == "vqa" and out["num_scored"] == 12
    assert set(out["metrics"]) >= {"overall", "perAnswerType", "perQuestionType"}
    assert out["provenance"]["model"] == str(run) and len(out["provenance"]["weights_sha256"]) == 64
    items = json_lines((tmp_path / "items.jsonl").read_text())
    assert len(items) == 12 and all("prediction" in r and "score" in r for r in items)
    scores = [r["score"] for r in items]  # unrounded per-question accuracies, in [0, 1]
    assert out["metrics"]["overall"] == round(100 * sum(scores) / len(scores), 2)

    res = invoke("eval", "--model", str(run), "--data", str(data), "--task", "caption", "--device", "cpu", "--json")
    assert res.exit_code == 0, res.output
    metrics = json_lines(res.stdout)[0]["metrics"]
    assert set(metrics) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}

    res = invoke("eval", "--model", str(run), "--data", str(data), "--task", "vqa", "--device", "cpu")
    assert res.exit_code == 0 and "overall" in res.stdout  # the human table


def test_caption_prints_one_line_per_image(tiny_run, tmp_path):
    from PIL import Image

    paths = []
    for i, color in enumerate(("red", "blue")):
        p = tmp_path / f"img{i}.png"
        Image.new("RGB", (32, 32), color).save(p)
        paths.append(str(p))
    res = invoke("caption", "--model", str(tiny_run), *paths, "--device", "cpu")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == paths
    res = invoke("caption", "--model", str(tiny_run), paths[0], "--device", "cpu", "--json")
    row = json_lines(res.stdout)[0]
    assert row["image"] == paths[0] and row["model"] == str(tiny_run)
    assert " ".join(row["text"].split()) == lines[0].split("\t", 1)[1]  # greedy: the same text either way


@pytest.mark.parametrize(
    "args, message, hint, code",
    [
        (["train", "--data", "{tmp}/missing", "--output", "{tmp}/run"], "dataset directory", "build-dataset", 1),
        (
            ["train", "--data", "{data}", "--output", "{tmp}/run", "--preset", "huge"],
            "unknown preset 'huge'",
            "choose one of",
            2,
        ),
        (["eval", "--model", "{tmp}/nothing", "--data", "{data}"], "not found", "path", 1),
        (["caption", "--model", "{run}", "{tmp}/notes.png"], "not a readable image", None, 1),
        (
            ["train", "--data", "{data}", "--output", "{tmp}/run", "--set", "bogus=1"],
            "unknown config key 'bogus'",
            "known keys",
            2,
        ),  # config errors are usage errors: exit 2
    ],
)
def test_bad_input_is_one_line_with_hint(args, message, hint, code, tmp_path, tiny_dataset, tiny_run):
    (tmp_path / "notes.png").write_text("this is text, not a PNG")
    fmt = {"tmp": str(tmp_path), "data": str(tiny_dataset), "run": str(tiny_run)}
    res = invoke(*[a.format(**fmt) for a in args])
    assert res.exit_code == code, res.output
    err = res.stderr
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert error_lines and message in error_lines[0]
    if hint:
        assert any(line.startswith("Hint: ") and hint in line for line in err.splitlines())
    assert not (tmp_path / "run").exists()


def test_cli_start_up_imports_no_torch():
    """Every command (and --help) starts fast: the heavy libraries load only inside the command that needs them."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    code = "import sys, vitcli.cli.app; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.split() == ["False", "False"]
