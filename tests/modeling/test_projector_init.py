"""projector_init: a new projector folds per-channel standardisation of the tower's features into linear_1 and the
LM's word-embedding scale into linear_2; checked against the composed projector applied to standardised features
(computed here from the captured projector input), on a tiny LLaVA composition."""

from __future__ import annotations

import pytest
import torch

from vitcli.config import ModelConfig
from vitcli.modeling.compose import compose_model
from vitcli.modeling.projector_init import fit_projector, sample_pixels, wants_fit

TINY = {"image_size": 32, "patch_size": 8, "vision_hidden_size": 32, "vision_num_layers": 1, "vision_num_heads": 2}
TINY_LM = {"text_hidden_size": 32, "text_num_layers": 1, "text_num_heads": 2, "text_intermediate_size": 64}


def projector_input(model, pixels: torch.Tensor) -> torch.Tensor:
    seen = []
    hook = model.model.multi_modal_projector.register_forward_pre_hook(lambda _m, a: seen.append(a[0].detach()))
    with torch.no_grad():
        model.model.get_image_features(pixel_values=pixels)
    hook.remove()
    return seen[0].reshape(-1, seen[0].shape[-1])


def test_fit_standardises_the_features_and_matches_the_word_embedding_norm():
    torch.manual_seed(0)
    model, _ = compose_model(ModelConfig(**TINY, **TINY_LM), ["a red circle", "what color is it"])
    model.eval()
    pixels = torch.rand(12, 3, 32, 32) * 0.2 + 0.4  # features sharing a large common part, as pretrained ones do
    x = projector_input(model, pixels)  # (N*T, C)
    proj = model.model.multi_modal_projector
    w1, b1 = proj.linear_1.weight.clone(), proj.linear_1.bias.clone()
    fit = fit_projector(model, pixels)
    mean, spread = x.mean(0), x.std(0)
    spread = spread.clamp(min=float(spread.median()) * 0.1)
    with torch.no_grad():
        expected = ((x - mean) / spread) @ w1.T + b1
        torch.testing.assert_close(proj.linear_1(x), expected, atol=1e-4, rtol=1e-4)
        tokens = proj(x)
    word = model.get_input_embeddings().weight.norm(dim=-1).median()
    assert float(tokens.norm(dim=-1).median()) == pytest.approx(float(word), rel=1e-3)
    assert fit.images == 12 and fit.token_norm_after == pytest.approx(fit.word_norm, rel=1e-3)
    assert fit.signal_after > fit.signal_before  # the shared part no longer drowns what differs between images
    assert "12 train images" in fit.describe()


def test_which_runs_fit_a_projector():
    assert wants_fit("standardize", ModelConfig(vision="lite0")) and wants_fit("standardize", ModelConfig())
    assert not wants_fit("default", ModelConfig(vision="x"))
    assert not wants_fit("standardize", ModelConfig(model="runs/align"))  # a continued run keeps its projector
    assert not wants_fit("standardize", ModelConfig(arch="encoder-decoder"))


def test_sample_pixels_takes_distinct_images(tiny_dataset):
    from vitcli.data.build import load_built_dataset

    rows = load_built_dataset(tiny_dataset)["train"]
    _, processor = compose_model(ModelConfig(**TINY, **TINY_LM), ["x"])
    pixels = sample_pixels(rows, processor, count=4)
    assert pixels.shape == (4, 3, 32, 32)
    assert len({tuple(p.flatten()[:64].tolist()) for p in pixels}) == 4
