"""The compatibility matrix: every vitcli command against a tiny random checkpoint of every declared family.
caption (with and without --prompt), batched = one-by-one with mixed prompt lengths and image sizes, eval vqa and
caption from a model, train --model for 2 steps, caption after training, plain transformers' generate on the
trained run = `vitcli caption`, and train/infer parity of the prompt ids (the adapter is the one encoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.zoo import ZOO
from vitcli.cli.app import app

FAMILIES = sorted(ZOO)
FAST = ["--max-new-tokens", "5", "--device", "cpu"]
PROMPTS = [
    "What colour is the circle?",
    None,
    "Is there a red square on the left of the picture near the top?",
    "how many",
]
_built: dict[str, Path] = {}
_trained: dict[str, Path] = {}


def cli(*args: str) -> dict | list:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, f"{args[0]} failed: {res.stderr or res.stdout}"
    lines = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    return lines


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Four noise PNGs of different sizes and aspect ratios."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    paths = []
    for i, (w, h) in enumerate([(40, 30), (64, 64), (30, 52), (48, 48)]):
        paths.append(folder / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def checkpoint(name: str, root: Path) -> Path:
    if name not in _built:
        torch.manual_seed(0)
        _built[name] = ZOO[name](root / name)
    return _built[name]


def trained(name: str, root: Path, data: Path) -> Path:
    """train --model (2 steps, full fine-tuning) on the tiny synthetic dataset, once per family."""
    if name not in _trained:
        out = root / f"{name}-run"
        cli(
            "train",
            "--model",
            checkpoint(name, root),
            "--data",
            data,
            "--output",
            out,
            "--max-steps",
            "2",
            "--per-device-batch-size",
            "2",
            "--learning-rate",
            "1e-3",
            "--device",
            "cpu",
            "--json",
        )
        _trained[name] = out
    return _trained[name]


def takes_prompt(model_dir: Path) -> bool:
    from transformers import AutoConfig

    from vitcli.modeling.families import family_of

    return family_of(AutoConfig.from_pretrained(model_dir).model_type).takes_prompt


@pytest.mark.parametrize("name", FAMILIES)
def test_caption_with_and_without_prompt(name, zoo_root, photos):
    model = checkpoint(name, zoo_root)
    rows = cli("caption", "--model", model, *photos, "--json", "--batch-size", "2", *FAST)
    assert [r["image"] for r in rows] == [str(p) for p in photos]
    assert all("error" not in r for r in rows) and sum(r["num_tokens"] for r in rows) > 0
    if takes_prompt(model):
        asked = cli("caption", "--model", model, photos[0], "--prompt", "What colour is the circle?", "--json", *FAST)
        assert asked[0]["prompt"] == "What colour is the circle?" and "error" not in asked[0]


@pytest.mark.parametrize("name", FAMILIES)
def test_batched_equals_one_by_one(name, zoo_root, photos):
    from vitcli.config import GenerationConfig
    from vitcli.inference.generate import generate
    from vitcli.modeling.load import load_for_inference
    from vitcli.runtime.images import open_image

    model, processor = load_for_inference(str(checkpoint(name, zoo_root)), "cpu", torch.float32)
    images = [open_image(p) for p in photos]
    prompts = PROMPTS if takes_prompt(checkpoint(name, zoo_root)) else [None] * len(images)
    batched = generate(model, processor, images, prompts, GenerationConfig(max_new_tokens=6, batch_size=4))
    single = generate(model, processor, images, prompts, GenerationConfig(max_new_tokens=6, batch_size=1))
    assert [(p.text, p.num_tokens) for p in batched] == [(p.text, p.num_tokens) for p in single]


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("task", ["vqa", "caption"])
def test_eval_from_a_model(name, task, zoo_root, tiny_dataset):
    if task == "vqa" and not takes_prompt(checkpoint(name, zoo_root)):  # an image-only captioner answers nothing
        res = CliRunner().invoke(
            app,
            [
                "eval",
                "--model",
                str(checkpoint(name, zoo_root)),
                "--data",
                str(tiny_dataset),
                "--task",
                "vqa",
                "--max-samples",
                "2",
                "--device",
                "cpu",
            ],
        )
        assert res.exit_code == 1 and "takes no prompt" in res.stderr and "Traceback" not in res.stderr
        return
    report = cli(
        "eval",
        "--model",
        checkpoint(name, zoo_root),
        "--data",
        tiny_dataset,
        "--task",
        task,
        "--max-samples",
        "4",
        "--max-new-tokens",
        "4",
        "--device",
        "cpu",
        "--json",
    )[0]
    assert report["num_scored"] == 4 and report["metrics"]


@pytest.mark.parametrize("name", FAMILIES)
def test_train_then_caption_equals_plain_transformers(name, zoo_root, tiny_dataset, photos):
    run = trained(name, zoo_root, tiny_dataset)
    rows = cli("caption", "--model", run, *photos[:2], "--json", *FAST)
    assert all("error" not in r for r in rows)
    assert [r["text"] for r in rows] == [plain_transformers_caption(run, p) for p in photos[:2]]


@pytest.mark.parametrize("name", FAMILIES)
def test_train_and_inference_prompt_ids_are_equal(name, zoo_root, tiny_dataset):
    """The ids before the first labelled token in training = the ids generation is given for that question."""
    from vitcli.data.build import load_built_dataset
    from vitcli.modeling.adapter import FamilyAdapter, Sample, first_exchange, to_structured
    from vitcli.modeling.load import load_model
    from vitcli.runtime.images import open_image

    model, processor = load_model(str(checkpoint(name, zoo_root)), torch.float32)
    adapter = FamilyAdapter.for_model(model, processor)
    for row in load_built_dataset(str(tiny_dataset))["train"].select(range(2)):  # a caption row and a vqa row
        image = open_image(row["images"][0])
        batch = adapter.encode_training([Sample(to_structured(row["messages"]), [image], row["task"])])
        question = adapter.question(first_exchange(row["messages"])[0], row["task"])
        asked = adapter.encode_prompts([image], [question])
        if adapter.family.encoder_decoder:  # the encoder sees the same inputs; labels are the decoder's alone
            assert all(torch.equal(batch[k], asked[k]) for k in asked), sorted(asked)
            continue
        labels = batch["labels"][0].tolist()
        first = next(i for i, x in enumerate(labels) if x != -100)
        prompt_ids = asked["input_ids"][0].tolist()
        assert batch["input_ids"][0, :first].tolist() == conditioned_on(adapter.family.name, model, prompt_ids)


def conditioned_on(family: str, model, ids: list[int]) -> list[int]:
    """What generate conditions on, from the published code: BLIP swaps the first id for its decoder bos and drops
    the trailing [SEP] inside generate(); every other family continues the prompt ids as given."""
    if family == "blip":
        return [model.config.text_config.bos_token_id, *ids[1:-1]]
    return ids


def plain_transformers_caption(run: Path, image_path: Path) -> str:
    """The published way to caption with each kind of checkpoint, using transformers alone (no vitcli)."""
    from PIL import Image
    from transformers import (
        AutoConfig,
        AutoImageProcessor,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
        VisionEncoderDecoderModel,
    )

    image = Image.open(image_path).convert("RGB")
    model_type = AutoConfig.from_pretrained(run).model_type
    if model_type == "vision-encoder-decoder":
        model = VisionEncoderDecoderModel.from_pretrained(run).eval()
        tok = AutoTokenizer.from_pretrained(run)
        pixels = AutoImageProcessor.from_pretrained(run)(images=image, return_tensors="pt")["pixel_values"]
        out = model.generate(pixel_values=pixels, max_new_tokens=5, do_sample=False)
        return tok.decode(out[0], skip_special_tokens=True).strip()
    processor = AutoProcessor.from_pretrained(run)
    model = AutoModelForImageTextToText.from_pretrained(run).eval()
    text = {"paligemma": "caption en", "florence2": "<CAPTION>", "blip": None, "blip-2": None, "git": None}.get(
        model_type, "chat"
    )
    if text == "chat":
        msgs = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the image briefly."}]}
        ]
        text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    inputs = (
        processor(images=image, text=text, return_tensors="pt")
        if text
        else processor(images=image, return_tensors="pt")
    )
    if text and processor.tokenizer.bos_token and text.startswith(processor.tokenizer.bos_token):
        inputs = processor(images=image, text=text, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    prompt_len = 0 if model.config.is_encoder_decoder or "input_ids" not in inputs else inputs["input_ids"].shape[1]
    asked = inputs["input_ids"][0].tolist() if "input_ids" in inputs else []  # no text: decode all of out
    new = out[0, prompt_len:] if out[0, :prompt_len].tolist() == asked[:prompt_len] else out[0]
    return processor.tokenizer.decode(new, skip_special_tokens=True).strip()


@pytest.mark.parametrize("name", FAMILIES)
def test_two_image_rows_train_or_are_refused(name, zoo_root):
    """Families declared multi-image train on a row with two images (the processor expands both, the loss is
    finite); the others refuse the row with a reason that is counted."""
    from PIL import Image

    from vitcli.modeling.adapter import FamilyAdapter, Sample, to_structured
    from vitcli.modeling.load import load_model

    model, processor = load_model(str(checkpoint(name, zoo_root)), torch.float32)
    adapter = FamilyAdapter.for_model(model, processor)
    msgs = [
        {"role": "user", "content": "<image>\n<image>\nWhich picture is red?"},
        {"role": "assistant", "content": "the first"},
    ]
    problem = adapter.problem(msgs, "conversation")
    if not adapter.family.multi_image:
        assert problem is not None and "takes one image per sample" in problem
        return
    assert problem is None
    images = [Image.new("RGB", (40, 30), "red"), Image.new("RGB", (64, 64), "blue")]
    batch = adapter.encode_training([Sample(to_structured(msgs), images, "conversation")])
    assert int((batch["labels"] != -100).sum()) >= 2
    loss = model(**batch).loss
    assert torch.isfinite(loss)
