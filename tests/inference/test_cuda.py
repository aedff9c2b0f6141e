"""CUDA paths, for when a GPU is lent (`pytest -m gpu`; deselected by default): bf16 training, device placement,
batched generation on the device. Without CUDA these fail loudly instead of passing vacuously."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def need_cuda():
    if not torch.cuda.is_available():
        pytest.fail("-m gpu needs a CUDA device", pytrace=False)


def test_bf16_training_on_cuda_learns_and_saves(tiny_dataset, tmp_path):
    from vitcli.config import build_train_config
    from vitcli.modeling.load import load_for_inference
    from vitcli.training.run import train

    cfg = build_train_config(
        "test",
        None,
        ["learning_rate=0.003"],
        {"data": str(tiny_dataset), "output": str(tmp_path / "run"), "device": "cuda", "dtype": "bf16", "max_steps": 8},
    )
    result = train(cfg)
    assert result.final_loss < result.first_loss
    model, _ = load_for_inference(str(tmp_path / "run"), "cuda:0", torch.bfloat16)
    assert next(model.parameters()).device.type == "cuda" and next(model.parameters()).dtype == torch.bfloat16


def test_batched_generation_on_cuda_equals_one_by_one(tiny_llava, mixed_images):
    from vitcli.config import GenerationConfig
    from vitcli.inference.generate import generate
    from vitcli.modeling.load import load_for_inference
    from vitcli.runtime.images import open_image

    model, processor = load_for_inference(str(tiny_llava), "cuda", torch.float32)
    images = [open_image(p) for p in mixed_images]
    prompts = ["what color", None, "where is the small red square on the left", "shape", None]
    batched = generate(model, processor, images, prompts, GenerationConfig(max_new_tokens=8, batch_size=5))
    single = generate(model, processor, images, prompts, GenerationConfig(max_new_tokens=8, batch_size=1))
    assert [p.text for p in batched] == [p.text for p in single]
