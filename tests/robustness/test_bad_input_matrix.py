"""Acceptance: a bad-input matrix over build-dataset, train, eval and caption. Each case asserts the exit code,
the one-line 'Error: ...' (plus its 'Hint: ...'), no traceback, and that no output was left behind. Most cases
go through CliRunner on the root app; a few run `python -m vitcli` to show the real entry point agrees,
including exit 2 for usage errors and 130 for Ctrl-C with no partial output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from robust_helpers import assert_clean_error, leftovers, run_vitcli, vitcli_env, write_json


@dataclass
class Case:
    name: str
    args: Callable[[dict], list]  # ctx -> argv (ctx: tmp, out, images, tiny_dataset, tiny_run, pickle_model)
    message: str  # a piece of the 'Error:' line
    code: int = 1
    setup: Callable[[dict], None] | None = None
    input: str | None = None


def conv(q: str = "<image>\nWhat is it?", a: str = "A shape.") -> list[dict]:
    return [{"from": "human", "value": q}, {"from": "gpt", "value": a}]


def llava(ctx: dict, rows: list | dict, name: str = "llava.json") -> Path:
    return write_json(ctx["images"] / name if name == "in-root.json" else ctx["tmp"] / name, rows)


def build_llava(ctx: dict, rows: list, *flags: str, root: Path | None = None) -> list:
    """argv of `build-dataset llava ROWS --images ROOT --out OUT FLAGS...` (ROOT: the images fixture dir)."""
    return [*B, "llava", llava(ctx, rows), "--images", root or ctx["images"], "--out", ctx["out"], *flags]


def existing(ctx: dict) -> None:
    """Put something at the output path that a refused command must leave as it was."""
    out: Path = ctx["out"]
    if out.suffix:
        out.write_text("keep me\n")
    else:
        out.mkdir()
        (out / "keep.txt").write_text("keep me\n")


IMG = "imgs/ok.png"
VQA = ["eval", "--task", "vqa"]
B = ["build-dataset"]

CASES = [
    # build-dataset ---------------------------------------------------------------------------------------------
    Case("llava missing file", lambda c: [*B, "llava", c["tmp"] / "nope.json", "--out", c["out"]], "not found"),
    Case(
        "llava top-level object",
        lambda c: [*B, "llava", llava(c, {"a": 1}), "--out", c["out"]],
        "expected a list",
    ),
    Case(
        "llava all rows malformed",
        lambda c: build_llava(c, [{"id": 1}, 5, {"conversations": []}]),
        "no rows kept",
    ),
    Case(
        "llava path escapes root (strict)",
        lambda c: build_llava(
            c, [{"id": "x", "image": "../outside.png", "conversations": conv()}], "--strict", root=c["images"] / "imgs"
        ),
        "escapes image root",
    ),
    Case(
        "llava absolute path escapes root (strict)",
        lambda c: build_llava(
            c,
            [{"id": "x", "image": str(c["images"] / "outside.png"), "conversations": conv()}],
            "--strict",
            root=c["images"] / "imgs",
        ),
        "escapes image root",
    ),
    Case(
        "llava decompression bomb (strict)",
        lambda c: build_llava(c, [{"id": "x", "image": "imgs/bomb.png", "conversations": conv()}], "--strict"),
        "too large",
    ),
    Case(
        "llava --max-pixels cap (strict)",
        lambda c: build_llava(
            c, [{"id": "x", "image": IMG, "conversations": conv()}], "--strict", "--max-pixels", "100"
        ),
        "too large",
    ),
    Case(
        "llava broken image (strict)",
        lambda c: build_llava(c, [{"id": "x", "image": "imgs/broken.png", "conversations": conv()}], "--strict"),
        "image unreadable",
    ),
    Case(
        "llava hostile JSON",
        lambda c: [*B, "llava", c["tmp"] / "deep.json", "--out", c["out"]],
        "not valid JSON",
        setup=lambda c: (c["tmp"] / "deep.json").write_text("[" * 100_000),
    ),
    Case(
        "llava empty file",
        lambda c: [*B, "llava", c["tmp"] / "empty.json", "--out", c["out"]],
        "has no rows",
        setup=lambda c: (c["tmp"] / "empty.json").write_text(""),
    ),
    Case(
        "llava --out exists",
        lambda c: build_llava(c, [{"id": "x", "image": IMG, "conversations": conv()}]),
        "already exists",
        setup=existing,
    ),
    Case(
        "llava --out holds the source",
        lambda c: [
            *B,
            "llava",
            llava(c, [{"id": "x", "conversations": conv("hi", "yo")}]),
            "--out",
            c["tmp"],
            "--overwrite",
        ],
        "holds the source",
    ),
    Case(
        "synthetic --out exists",
        lambda c: [*B, "synthetic", "--out", c["out"], "--num-train", "2"],
        "already exists",
        setup=existing,
    ),
    Case(
        "ratios sum to 1",
        lambda c: [
            *B,
            "llava",
            llava(c, [{"id": "x", "conversations": conv("hi", "yo")}]),
            "--out",
            c["out"],
            "--val-ratio",
            "0.5",
            "--test-ratio",
            "0.5",
        ],
        "sum below 1",
    ),
    Case(
        "coco wrong file",
        lambda c: [*B, "coco", write_json(c["tmp"] / "c.json", {"x": []}), "--out", c["out"]],
        "not a COCO caption file",
    ),
    Case(
        "vqav2 bad --image-pattern",
        lambda c: [
            *B,
            "vqav2",
            "--questions",
            write_json(c["tmp"] / "q.json", {"questions": [{"question_id": 1, "image_id": 3, "question": "What?"}]}),
            "--image-pattern",
            "{nope}.jpg",
            "--out",
            c["out"],
        ],
        "bad --image-pattern",
    ),
    Case(
        "imagefolder without metadata",
        lambda c: [*B, "imagefolder", c["images"] / "imgs", "--out", c["out"]],
        "no metadata.jsonl",
    ),
    Case(
        "imagefolder bad --column",
        lambda c: [*B, "imagefolder", c["images"], "--column", "x=nonsense", "--out", c["out"]],
        "bad --column",
    ),
    Case("hf hub id offline", lambda c: [*B, "hf", "someone/some-dataset", "--out", c["out"]], "cannot load"),
    Case("mix recipe missing", lambda c: [*B, "mix", c["tmp"] / "recipe.yaml", "--out", c["out"]], "not found"),
    Case(
        "build-dataset unknown option",
        lambda c: [*B, "llava", "x.json", "--out", c["out"], "--bogus"],
        "No such option",
        code=2,
    ),
    # train -----------------------------------------------------------------------------------------------------
    Case(
        "train missing dataset",
        lambda c: ["train", "--data", c["tmp"] / "none", "--output", c["out"], "--preset", "test"],
        "not found",
    ),
    Case(
        "train not a dataset",
        lambda c: ["train", "--data", c["images"], "--output", c["out"], "--preset", "test"],
        "not a dataset built by vitcli",
    ),
    Case(
        "train --output exists",
        lambda c: ["train", "--data", c["tiny_dataset"], "--output", c["out"], "--preset", "test"],
        "already exists",
        setup=existing,
    ),
    Case(
        "train unknown preset",
        lambda c: ["train", "--data", c["tiny_dataset"], "--output", c["out"], "--preset", "huge"],
        "unknown preset",
        code=2,
    ),
    Case(
        "train unknown --set key",
        lambda c: ["train", "--data", c["tiny_dataset"], "--output", c["out"], "--set", "model.nope=1"],
        "unknown config key",
        code=2,
    ),
    Case(
        "train bad --set value",
        lambda c: ["train", "--data", c["tiny_dataset"], "--output", c["out"], "--set", "max_steps=many"],
        "expects int",
        code=2,
    ),
    Case(
        "train missing --config",
        lambda c: [
            "train",
            "--data",
            c["tiny_dataset"],
            "--output",
            c["out"],
            "--config",
            c["tmp"] / "nope.yaml",
        ],
        "config file",
        code=2,
    ),
    Case(
        "train batch size 0",
        lambda c: [
            "train",
            "--data",
            c["tiny_dataset"],
            "--output",
            c["out"],
            "--per-device-batch-size",
            "0",
        ],
        "Invalid value",
        code=2,
    ),
    # eval ------------------------------------------------------------------------------------------------------
    Case(
        "eval missing predictions",
        lambda c: [
            *VQA,
            "--predictions",
            c["tmp"] / "p.json",
            "--annotations",
            c["tmp"] / "a.json",
            "--per-item",
            c["out"],
        ],
        "not found",
    ),
    Case(
        "eval predictions not JSON",
        lambda c: [
            *VQA,
            "--predictions",
            c["tmp"] / "p.jsonl",
            "--annotations",
            c["tmp"] / "a.json",
            "--per-item",
            c["out"],
        ],
        "not valid JSON",
        setup=lambda c: (c["tmp"] / "p.jsonl").write_text('{"question_id": 1, "answer": "x"}\n{oops\n'),
    ),
    Case(
        "eval huge integer id",
        lambda c: [
            *VQA,
            "--predictions",
            c["tmp"] / "p.json",
            "--annotations",
            c["tmp"] / "a.json",
            "--per-item",
            c["out"],
        ],
        "not valid JSON",
        setup=lambda c: (c["tmp"] / "p.json").write_text('[{"question_id": ' + "9" * 5000 + ', "answer": 1}]'),
    ),
    Case(
        "eval unknown task",
        lambda c: [
            "eval",
            "--task",
            "ocr",
            "--predictions",
            c["tmp"] / "p.json",
            "--references",
            c["tmp"] / "r.json",
        ],
        "unknown task",
    ),
    Case(
        "eval vqa without annotations",
        lambda c: [*VQA, "--predictions", c["tmp"] / "p.json"],
        "needs --annotations",
    ),
    Case(
        "eval extra prediction ids",
        lambda c: [
            *VQA,
            "--predictions",
            c["tmp"] / "p.json",
            "--annotations",
            c["tmp"] / "a.json",
            "--per-item",
            c["out"],
        ],
        "have no reference",
        setup=lambda c: vqa_files(c, pred_ids=[1, 2, 99]),
    ),
    Case(
        "eval --per-item exists",
        lambda c: [
            *VQA,
            "--predictions",
            c["tmp"] / "p.json",
            "--annotations",
            c["tmp"] / "a.json",
            "--per-item",
            c["out"],
        ],
        "already exists",
        setup=lambda c: (vqa_files(c, pred_ids=[1, 2]), existing(c)),
    ),
    Case(
        "eval hub model offline",
        lambda c: ["eval", "--model", "someone/some-vlm", "--data", c["tiny_dataset"], "--device", "cpu"],
        "could not load model",
    ),
    Case(
        "eval model folder without config",
        lambda c: ["eval", "--model", c["images"], "--data", c["tiny_dataset"], "--device", "cpu"],
        "holds no model",
    ),
    Case(
        "eval pickle-only model",
        lambda c: [
            "eval",
            "--model",
            c["pickle_model"],
            "--data",
            c["tiny_dataset"],
            "--device",
            "cpu",
            "--per-item",
            c["out"],
        ],
        "pickle weights",
    ),
    Case(
        "eval missing split",
        lambda c: [
            "eval",
            "--model",
            c["tiny_run"],
            "--data",
            c["tiny_dataset"],
            "--split",
            "dev",
            "--device",
            "cpu",
        ],
        "has no split",
    ),
    Case("eval negative --max-samples", lambda c: [*VQA, "--max-samples", "-1"], "Invalid value", code=2),
    # caption ---------------------------------------------------------------------------------------------------
    Case(
        "caption missing model path",
        lambda c: ["caption", "--model", c["tmp"] / "no-model", c["images"] / IMG, "--output", c["out"]],
        "not found",
    ),
    Case(
        "caption hub model offline",
        lambda c: ["caption", "--model", "someone/some-vlm", c["images"] / IMG, "--output", c["out"]],
        "could not load model",
    ),
    Case(
        "caption pickle-only model",
        lambda c: [
            "caption",
            "--model",
            c["pickle_model"],
            c["images"] / IMG,
            "--output",
            c["out"],
            "--device",
            "cpu",
        ],
        "pickle weights",
    ),
    Case(
        "caption --output exists",
        lambda c: ["caption", "--model", c["tiny_run"], c["images"] / IMG, "--output", c["out"]],
        "already exists",
        setup=existing,
    ),
    Case(
        "caption no images",
        lambda c: ["caption", "--model", c["tiny_run"], "-", "--output", c["out"], "--device", "cpu"],
        "no images given",
        input="",
    ),
    Case(
        "caption two input sources",
        lambda c: [
            "caption",
            "--model",
            c["tiny_run"],
            c["images"] / IMG,
            "--data",
            c["tiny_dataset"],
            "--device",
            "cpu",
            "--output",
            c["out"],
        ],
        "given together",
    ),
    Case(
        "caption bad requests line",
        lambda c: [
            "caption",
            "--model",
            c["tiny_run"],
            "--requests",
            c["tmp"] / "r.jsonl",
            "--device",
            "cpu",
            "--output",
            c["out"],
        ],
        "not valid JSON",
        setup=lambda c: (c["tmp"] / "r.jsonl").write_text('{"image": "a.png"}\n{bad\n'),
    ),
    Case(
        "caption --fail-fast on a broken image",
        lambda c: [
            "caption",
            "--model",
            c["tiny_run"],
            c["images"] / IMG,
            c["images"] / "imgs/broken.png",
            "--fail-fast",
            "--device",
            "cpu",
            "--batch-size",
            "1",
            "--max-new-tokens",
            "2",
            "--output",
            c["out"],
        ],
        "not a readable image",
    ),
    Case(
        "caption unknown backend",
        lambda c: [
            "caption",
            "--model",
            c["tiny_run"],
            c["images"] / IMG,
            "--backend",
            "onnx",
            "--output",
            c["out"],
        ],
        "unknown backend",
    ),
    Case("caption without --model", lambda c: ["caption", c["images"] / IMG], "Missing option", code=2),
]


def vqa_files(ctx: dict, pred_ids: list[int]) -> None:
    write_json(ctx["tmp"] / "p.json", [{"question_id": i, "answer": "yes"} for i in pred_ids])
    write_json(
        ctx["tmp"] / "a.json",
        {
            "annotations": [
                {"question_id": i, "answers": [{"answer": "yes"}] * 10, "answer_type": "yes/no"} for i in (1, 2)
            ]
        },
    )


def test_matrix_is_big_enough():
    commands = {next(a for a in c.args(FAKE) if not str(a).startswith("-")) for c in CASES}
    assert len(CASES) >= 30 and commands == {"build-dataset", "train", "eval", "caption"}


FAKE = {k: Path("/x") for k in ("tmp", "out", "images", "tiny_dataset", "tiny_run", "pickle_model")}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, cli, tmp_path, images, tiny_dataset, tiny_run, pickle_model):
    out = tmp_path / "out" / ("result.jsonl" if case.args(FAKE)[0] in ("eval", "caption") else "dataset")
    out.parent.mkdir()
    ctx = {
        "tmp": tmp_path,
        "out": out,
        "images": images,
        "tiny_dataset": tiny_dataset,
        "tiny_run": tiny_run,
        "pickle_model": pickle_model,
    }
    if case.setup:
        case.setup(ctx)
    before = sorted(p.name for p in out.parent.rglob("*"))
    res = cli(*case.args(ctx), input=case.input)
    assert res.exit_code == case.code, (res.exit_code, res.stdout, res.stderr, res.exception)
    if case.code == 1 or res.stderr.startswith("Error: "):  # ours (exit 1, or 2 for config errors), not typer's
        assert_clean_error(res.stderr, case.message)
        assert res.stdout == ""
    else:
        assert case.message in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert sorted(p.name for p in out.parent.rglob("*")) == before, "output left behind or changed"
    if before:  # a refused overwrite leaves the old output as it was
        kept = out if out.is_file() else out / "keep.txt"
        assert kept.read_text() == "keep me\n"
    assert not leftovers(out.parent) and not leftovers(images)


# --- the handler itself: unknown exceptions, debug mode, Ctrl-C in a nested subcommand -----------------------


def test_unknown_exception_is_one_line_with_the_debug_hint(cli, monkeypatch, tmp_path):
    def boom(*_a, **_k):
        raise RuntimeError("kaboom\nsecond line that must not show")

    monkeypatch.setattr("vitcli.evaluation.score.score_files", boom)
    res = cli(*VQA, "--predictions", tmp_path / "p.json", "--annotations", tmp_path / "a.json")
    assert res.exit_code == 1
    assert_clean_error(res.stderr, "unexpected RuntimeError: kaboom")
    assert "VITCLI_DEBUG=1" in res.stderr and "second line" not in res.stderr
    monkeypatch.setenv("VITCLI_DEBUG", "1")
    res = cli(*VQA, "--predictions", tmp_path / "p.json", "--annotations", tmp_path / "a.json")
    assert isinstance(res.exception, RuntimeError)  # debug mode lets the traceback through


@pytest.mark.parametrize(
    "argv", [["build-dataset", "synthetic", "--out", "X"], ["build-dataset", "llava", "f.json", "--out", "X"]]
)
def test_ctrl_c_in_nested_build_dataset_subcommand_exits_130(cli, monkeypatch, tmp_path, argv):
    """build-dataset is a Typer sub-app: its commands still go through the root handler."""

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr("vitcli.cli.build_dataset.build_dataset", interrupted)
    res = cli(*[tmp_path / a if a in ("X", "f.json") else a for a in argv])
    assert res.exit_code == 130 and "Interrupted" in res.stderr and "Traceback" not in res.stderr


def test_build_dataset_subcommand_error_goes_through_the_root_handler(cli, monkeypatch, tmp_path):
    from vitcli.runtime.errors import DataError

    def fails(*_a, **_k):
        raise DataError("row 3 is broken", "fix row 3")

    monkeypatch.setattr("vitcli.cli.build_dataset.build_dataset", fails)
    res = cli("build-dataset", "synthetic", "--out", tmp_path / "X")
    assert res.exit_code == 1 and res.stderr.splitlines() == ["Error: row 3 is broken", "Hint: fix row 3"]


# --- the real entry point ------------------------------------------------------------------------------------


def test_entry_point_known_error_and_usage_error(tmp_path):
    res = run_vitcli("eval", "--task", "vqa", "--predictions", "missing.json", "--annotations", "a.json", cwd=tmp_path)
    assert res.returncode == 1 and res.stdout == ""
    assert_clean_error(res.stderr, "file 'missing.json' not found")
    res = run_vitcli("caption", "--bogus-flag", cwd=tmp_path)
    assert res.returncode == 2 and "No such option" in res.stderr and "Traceback" not in res.stderr


def test_entry_point_pickle_model_refused(tmp_path, pickle_model, images):
    out = tmp_path / "caps.jsonl"
    res = run_vitcli("caption", "--model", pickle_model, images / IMG, "--output", out, "--device", "cpu", cwd=tmp_path)
    assert res.returncode == 1 and not out.exists() and not leftovers(tmp_path)
    assert_clean_error(res.stderr, "pickle weights")


def sigint_default() -> None:
    """Popen preexec_fn: the child starts with SIGINT at its default, as under a terminal. A suite run as a
    background job (`pytest &`, nohup) inherits SIGINT ignored, and a command started so rightly ignores Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(
    proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 90, sig: int = signal.SIGINT
) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "command never got going"
        time.sleep(0.1)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err


def test_ctrl_c_while_captioning_from_a_pipe_exits_130_and_keeps_no_output(tmp_path, tiny_run, images):
    """`tail -f paths | vitcli caption - -o out.jsonl`: stdin never closes; Ctrl-C after the first result."""
    out = tmp_path / "res" / "caps.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vitcli",
            "caption",
            "--model",
            str(tiny_run),
            "-",
            "--json",
            "--output",
            str(out),
            "--batch-size",
            "1",
            "--max-new-tokens",
            "2",
            "--device",
            "cpu",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=vitcli_env(),
        cwd=tmp_path,
        preexec_fn=sigint_default,
    )
    proc.stdin.write(f"{images / IMG}\n" * 2)  # batch 1 runs once batch 2 is read (images load a batch ahead)
    proc.stdin.flush()  # and never close it

    def first_result_written() -> bool:
        return any(p.stat().st_size > 0 for p in out.parent.glob(".caps.jsonl.tmp-*")) if out.parent.exists() else False

    code, err = interrupt(proc, first_result_written)
    assert code == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    assert not out.exists() and not leftovers(out.parent)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_while_building_exits_130_and_keeps_no_output(sig, tmp_path):
    out = tmp_path / "big"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vitcli",
            "build-dataset",
            "synthetic",
            "--out",
            str(out),
            "--num-train",
            "200000",
            "--image-size",
            "32",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=vitcli_env(),
        cwd=tmp_path,
        preexec_fn=sigint_default,
    )
    started = time.monotonic()
    code, err = interrupt(proc, lambda: time.monotonic() - started > 6, sig=sig)
    assert code == 130, err
    assert "Traceback" not in err and not out.exists() and not leftovers(tmp_path)
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"
