"""augment_images: each training image moves by a whole-pixel offset within +-F of its side, edges repeated;
nothing else changes (no flips, no colour), evaluation batches are never shifted, and patch-sequence pixel layouts
are refused rather than passed through unshifted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitcli.training.augment import augment_batch, shift_images


def dot_image(size: int = 32, at: tuple[int, int] = (16, 16)) -> torch.Tensor:
    img = torch.zeros(3, size, size)
    img[:, at[0], at[1]] = torch.tensor([1.0, 2.0, 3.0])
    return img


def test_a_shift_moves_the_dot_within_the_bound_and_changes_nothing_else():
    torch.manual_seed(0)
    moved = shift_images(dot_image().expand(400, 3, 32, 32).clone(), 0.125)  # up to 4 px
    offsets = []
    for img in moved:
        ys, xs = np.nonzero(img[0].numpy())
        assert len(ys) == 1  # one dot, no blur or resampling
        assert img[:, ys[0], xs[0]].tolist() == [1.0, 2.0, 3.0]  # its colour untouched
        offsets.append((int(ys[0]) - 16, int(xs[0]) - 16))
    dys, dxs = zip(*offsets, strict=True)
    assert set(dys) == set(range(-4, 5)) and set(dxs) == set(range(-4, 5))  # every offset within +-4 px drawn


def test_the_border_repeats_the_edge_pixels():
    img = torch.arange(16.0).reshape(1, 1, 4, 4).expand(1, 3, 4, 4).clone()
    torch.manual_seed(3)
    for _ in range(20):
        out = shift_images(img, 0.25)[0, 0].numpy()  # up to 1 px
        expected = [np.pad(img[0, 0].numpy(), 1, mode="edge")[y : y + 4, x : x + 4] for y in range(3) for x in range(3)]
        assert any(np.array_equal(out, e) for e in expected)


def test_zero_or_sub_pixel_fraction_is_the_identity_and_the_shape_is_kept():
    pixels = torch.randn(2, 4, 3, 16, 16)  # (B, N images, C, H, W), as image-splitting processors give
    assert shift_images(pixels, 0.0) is pixels and shift_images(pixels, 0.05) is pixels  # 0.05 x 16 < 1 px
    torch.manual_seed(1)
    assert shift_images(pixels, 0.25).shape == pixels.shape


def test_patch_sequences_are_refused_and_text_only_batches_pass():
    from vitcli.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="augment_images shifts image tensors"):
        augment_batch({"pixel_values": torch.randn(64, 1176)}, 0.1)  # Qwen2-VL: (patches, C*T*P*P)
    batch = {"input_ids": torch.ones(1, 4, dtype=torch.long)}
    assert augment_batch(batch, 0.1) is batch


def test_training_with_shifts_runs_and_evaluation_sees_the_images_unshifted(make_cfg, tmp_path, monkeypatch):
    from vitcli.training import loop
    from vitcli.training.run import train

    seen = []
    real = loop.augment_batch
    monkeypatch.setattr(loop, "augment_batch", lambda inputs, f: seen.append(f) or real(inputs, f))
    plain = train(make_cfg(tmp_path / "plain", max_steps=2, stage="full"))
    shifted = train(make_cfg(tmp_path / "shift", max_steps=2, stage="full", augment_images=0.25, eval_every_steps=1))
    assert seen == [0.25, 0.25]  # one call per training step; the two evaluations were not shifted
    assert shifted.first_loss != plain.first_loss  # the first step saw other pixels
