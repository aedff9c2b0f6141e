"""--contrastive views: the seed's NT-Xent over two augmented views of each image, on pooled vision-tower features.
The golden value is worked by hand with math.exp/log from cosine similarities written down below."""

from __future__ import annotations

import math

import pytest


def test_nt_xent_equals_hand_computed_value():
    import torch

    from vitcli.training.contrastive import nt_xent

    # 2 images x 2 views, 2-d embeddings: rows [view 1 of img 1, view 1 of img 2, view 2 of img 1, view 2 of img 2].
    # The view-2 rows are scaled by 2 (cosine similarity must not care).
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.2, 1.6], [1.6, 1.2]])
    tau = 0.5
    # cosines: a1.a2 = 0, a1.b1 = 0.6, a1.b2 = 0.8, a2.b1 = 0.8, a2.b2 = 0.6, b1.b2 = 0.96
    e = lambda s: math.exp(s / tau)  # noqa: E731
    anchors = [
        -math.log(e(0.6) / (e(0.0) + e(0.6) + e(0.8))),  # a1: positive b1; others a2, b2
        -math.log(e(0.6) / (e(0.0) + e(0.8) + e(0.6))),  # a2: positive b2; others a1, b1
        -math.log(e(0.6) / (e(0.6) + e(0.8) + e(0.96))),  # b1: positive a1; others a2, b2
        -math.log(e(0.6) / (e(0.8) + e(0.6) + e(0.96))),  # b2: positive a2; others a1, b1
    ]
    expected = sum(anchors) / 4
    assert float(nt_xent(z, tau)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.2707, abs=1e-4)  # (2 x 1.0271 + 2 x 1.5143) / 4, worked on paper


def test_nt_xent_is_low_when_views_agree_and_high_when_they_swap():
    import torch

    from vitcli.training.contrastive import nt_xent

    a = torch.eye(4)
    assert float(nt_xent(torch.cat([a, a]), 0.1)) < 1e-3
    assert float(nt_xent(torch.cat([a, a.roll(1, 0)]), 0.1)) > 5.0


def tiny_model():
    from vitcli.config import build_train_config
    from vitcli.modeling.compose import compose_model

    cfg = build_train_config("test", None, [], {"data": "unused", "output": "unused"})
    model, _ = compose_model(cfg.model, ["what shape is it", "a red circle"])
    return model


def test_augment_is_seeded_and_changes_the_image():
    import torch

    from vitcli.training.contrastive import augment

    pixels = torch.randn(3, 3, 32, 32)
    torch.manual_seed(7)
    first = augment(pixels)
    torch.manual_seed(7)
    again = augment(pixels)
    assert torch.equal(first, again) and first.shape == pixels.shape
    assert not torch.allclose(first, pixels)
    assert not torch.allclose(first, augment(pixels))  # the next draw is another view


def test_views_pool_the_feature_map_the_image_tokens_come_from():
    """With vision_feature_layer set to an earlier CNN stage, NT-Xent acts on that stage: the pooled features equal the
    mean of what transformers' Llava hands its projector (caught with a hook, outside vitcli's code)."""
    import torch

    from vitcli.config import ModelConfig
    from vitcli.modeling.compose import compose_model
    from vitcli.training.contrastive import pooled_tower_features

    tiny_lm = {"text_hidden_size": 32, "text_num_layers": 1, "text_num_heads": 2, "text_intermediate_size": 64}
    model, _ = compose_model(ModelConfig(vision_type="cnn", vision_feature_layer=-2, **tiny_lm), ["what"])
    model.eval()
    seen = []
    model.model.multi_modal_projector.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        model.model.get_image_features(pixel_values=pixels)
        pooled = pooled_tower_features(model, pixels)
        last = model.model.vision_tower(pixels).last_hidden_state
    assert pooled.shape == (2, model.config.vision_config.hidden_size) and last.shape[-1] != pooled.shape[-1]
    assert torch.allclose(pooled, seen[0].reshape(2, -1, pooled.shape[-1]).mean(1), atol=1e-6)


def test_gradient_reaches_the_vision_tower_only():
    import torch

    from vitcli.training.contrastive import views_loss

    model = tiny_model()
    torch.manual_seed(0)
    loss = views_loss(model, torch.randn(4, 3, 32, 32), temperature=0.1)
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    loss.backward()
    tower = [p.grad for p in model.model.vision_tower.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in tower)
    assert all(p.grad is None for p in model.model.multi_modal_projector.parameters())
    assert all(p.grad is None for p in model.model.language_model.parameters())


def test_single_image_batch_adds_zero():
    import torch

    from vitcli.training.contrastive import views_loss

    assert float(views_loss(tiny_model(), torch.randn(1, 3, 32, 32), 0.1).detach()) == 0.0


def test_three_steps_log_a_finite_contrastive_loss(make_cfg, tmp_path):
    from vitcli.training.loop import read_metrics
    from vitcli.training.run import train

    plain = train(make_cfg(tmp_path / "plain", max_steps=3, stage="full"))
    out = tmp_path / "views"
    mixed = train(make_cfg(out, max_steps=3, stage="full", contrastive="views", contrastive_weight=0.5))
    rows = [r for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert len(rows) == 3 and all(math.isfinite(r["contrastive_loss"]) and r["contrastive_loss"] > 0 for r in rows)
    # the LM term of step 1 is the same forward pass as without the extra term
    assert mixed.first_loss == pytest.approx(plain.first_loss + 0.5 * rows[0]["contrastive_loss"], rel=1e-4)


def test_views_with_a_frozen_tower_and_unknown_modes_are_refused(make_cfg, tmp_path):
    from vitcli.runtime.errors import ConfigError, UsageError
    from vitcli.training.run import train

    with pytest.raises(ConfigError, match="vision tower"):
        train(make_cfg(tmp_path / "a", max_steps=1, stage="align", contrastive="views", contrastive_weight=0.1))
    assert not (tmp_path / "a" / "model.safetensors").exists()
    with pytest.raises(UsageError, match="unknown contrastive 'pairs'"):
        make_cfg(tmp_path / "b", contrastive="pairs")
