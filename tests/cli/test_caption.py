"""`vitcli caption` end to end through CliRunner: paths piped on stdin, JSON lines, text lines, --output,
per-image errors and exit codes, and the same text plain transformers produces for a trained run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vitcli.cli.app import app

FAST = ["--max-new-tokens", "4", "--device", "cpu"]


def run(args: list[str], stdin: str | None = None):
    return CliRunner().invoke(app, ["caption", *args], input=stdin)


@pytest.fixture(scope="module")
def pngs(tmp_path_factory) -> Path:
    """A folder of five PNGs of different sizes (what `ls *.png` lists)."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("pngs")
    rng = np.random.default_rng(1)
    for i, (w, h) in enumerate([(32, 32), (64, 40), (20, 50), (33, 31), (90, 70)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_ls_pipe_to_json_lines(tiny_run, pngs):
    listing = "".join(f"{p}\n" for p in sorted(pngs.glob("*.png")))  # ls *.png | vitcli caption - --json
    res = run(["--model", str(tiny_run), "-", "--json", "--batch-size", "2", *FAST], stdin=listing)
    assert res.exit_code == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["image"] for r in rows] == listing.split()
    for r in rows:
        assert {"image", "prompt", "text", "model", "num_tokens", "seconds", "vitcli_version"} <= set(r)
        assert r["model"] == str(tiny_run) and "error" not in r and 1 <= r["num_tokens"] <= 4  # --max-new-tokens 4
    by_one = run(["--model", str(tiny_run), rows[-1]["image"], "--json", "--batch-size", "1", *FAST])
    assert json.loads(by_one.stdout)["text"] == rows[-1]["text"]  # batched greedy equals one-by-one


def test_text_lines_output_file_and_bad_images(tiny_run, pngs, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    one = str(pngs / "p0.png")
    single = run(["--model", str(tiny_run), one, *FAST])
    assert single.exit_code == 0 and "\t" not in single.stdout and len(single.stdout.splitlines()) == 1
    out = tmp_path / "res" / "captions.jsonl"
    res = run(["--model", str(tiny_run), one, str(bad), str(pngs / "p1.png"), "--json", "-o", str(out), *FAST])
    assert res.exit_code == 1 and res.stdout == ""
    assert "not a readable image" in res.stderr and "1 of 3 images failed" in res.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [("error" in r) for r in rows] == [False, True, False]
    assert not list(out.parent.glob(".*tmp*"))  # the atomic write left no temporary behind
    text = run(["--model", str(tiny_run), str(pngs / "*.png"), *FAST])
    assert text.exit_code == 0
    listed = [line.split("\t")[0] for line in text.stdout.splitlines()]
    assert listed == sorted(str(p) for p in pngs.glob("*.png"))


def test_plain_transformers_prints_the_same(tiny_run, pngs):
    """AutoModelForImageTextToText + AutoProcessor + apply_chat_template + generate, as users write it."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(str(tiny_run)).eval()
    processor = AutoProcessor.from_pretrained(str(tiny_run))
    question = "What shape is in the image?"
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": f"<image>\n{question}"}], add_generation_prompt=True
    )
    expected = []
    paths = sorted(pngs.glob("*.png"))[:3]
    for p in paths:
        inputs = processor(images=Image.open(p).convert("RGB"), text=prompt, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=10, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1] :]
        expected.append(processor.decode(new, skip_special_tokens=True).strip())
    res = run(
        ["--model", str(tiny_run), *map(str, paths), "--prompt", question, "--max-new-tokens", "10", "--device", "cpu"]
    )
    assert res.exit_code == 0, res.stderr
    printed = [line.split("\t", 1)[1] for line in res.stdout.splitlines()]
    assert printed == [" ".join(e.split()) for e in expected]


def test_encoder_decoder_model_and_usage_errors(tmp_path, pngs):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, PreTrainedTokenizerFast, VisionEncoderDecoderConfig, ViTConfig
    from transformers import VisionEncoderDecoderModel as VED
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(0)
    core = Tokenizer(models.WordLevel({"<|endoftext|>": 0, "<unk>": 1, "a": 2, "cat": 3}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", unk_token="<unk>")
    dec = GPT2Config(
        vocab_size=4,
        n_embd=16,
        n_layer=1,
        n_head=2,
        n_positions=32,
        add_cross_attention=True,
        is_decoder=True,
        bos_token_id=0,
        eos_token_id=0,
    )
    enc = ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16, patch_size=8
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 0, 0, 0
    folder = tmp_path / "vit-gpt2"
    VED(config=config).save_pretrained(folder)
    tok.save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 16, "width": 16}).save_pretrained(folder)

    res = run(["--model", str(folder), str(pngs), "--json", *FAST])
    assert res.exit_code == 0, res.stderr
    assert all(json.loads(line)["prompt"] is None for line in res.stdout.splitlines())
    asked = run(["--model", str(folder), str(pngs), "--prompt", "what is it", *FAST])
    assert asked.exit_code == 1 and "takes no prompt" in asked.stderr and "Hint:" in asked.stderr
    vllm = run(["--model", str(folder), str(pngs), "--backend", "vllm", *FAST])
    assert vllm.exit_code == 1 and "vitcli[vllm]" in vllm.stderr
    assert run(["--model", str(tmp_path / "nope"), str(pngs), *FAST]).exit_code == 1
