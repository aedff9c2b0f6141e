"""projector_init through train(): a fitted projector is where training starts."""

from __future__ import annotations


def test_train_with_standardize_starts_from_the_fitted_projector(make_cfg, tmp_path):
    from vitcli.training.run import train

    plain = train(make_cfg(tmp_path / "plain", max_steps=1, stage="align", projector_init="default"))
    fitted = train(make_cfg(tmp_path / "fit", max_steps=1, stage="align", projector_init="standardize"))
    assert fitted.first_loss != plain.first_loss
