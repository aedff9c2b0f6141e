"""The tiny preset fitted to the data (image size, epochs) and validation-based checkpoint selection
(training/recipe.py), checked against sizes and counts computed here and against the run's own metrics log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import weights
from vitcli.config import build_train_config
from vitcli.data.build import BuildConfig, build_dataset, load_built_dataset
from vitcli.data.sources.synthetic import SyntheticConfig
from vitcli.training.recipe import carve_validation, fit_image_size, fit_to_data


def synthetic(tmp_path: Path, image_size: int, num_train: int = 12, num_val: int = 2) -> Path:
    out = tmp_path / f"d{image_size}-{num_val}"
    cfg = SyntheticConfig(seed=3, num_train=num_train, num_val=num_val, num_test=2, image_size=image_size)
    build_dataset(BuildConfig(out=str(out), synthetic=cfg))
    return out


@pytest.mark.parametrize(("side", "expected"), [(40, 40), (44, 48), (20, 32), (96, 64)])
def test_image_size_is_the_median_side_on_the_patch_grid_clamped(tmp_path, side, expected):
    rows = load_built_dataset(synthetic(tmp_path, side))["train"]
    assert fit_image_size(rows, patch=8) == expected


@pytest.mark.parametrize(("rows", "epochs"), [(10_000, 20), (7_500, 27), (1_000, 40), (100_000, 4)])
def test_epochs_follow_a_budget_of_sample_passes(rows, epochs):
    class Rows:
        def __len__(self) -> int:
            return rows

    cfg = build_train_config(None, None, ["fit_to_data=epochs"], {"data": "d", "output": "o"})
    assert fit_to_data(cfg, Rows()) == {"epochs": epochs} and cfg.epochs == epochs


@pytest.mark.parametrize(("images", "regularised"), [(300, True), (999, True), (1_000, False), (2_000, False)])
def test_regularisation_is_on_for_few_distinct_images(images, regularised):
    from datasets import Dataset

    rows = Dataset.from_dict({"images": [[{"bytes": None, "path": f"{i % images}.png"}] for i in range(2 * images)]})
    keys = "model.dropout,weight_decay,augment_images"
    cfg = build_train_config(None, None, [f"fit_to_data={keys}"], {"data": "d", "output": "o"})
    chosen = fit_to_data(cfg, rows)  # 2 rows per image: counted by image, not by row
    expected = (0.1, 0.05, 0.0625) if regularised else (0.0, 0.0, 0.0)
    assert (cfg.model.dropout, cfg.weight_decay, cfg.augment_images) == expected
    assert chosen == dict(zip(keys.split(","), expected, strict=True))


def test_the_tiny_preset_fits_only_what_the_user_left_open():
    regularisation = "model.dropout,weight_decay,augment_images"
    assert build_train_config(None, None, [], {}).fit_to_data == f"model.image_size,epochs,{regularisation}"
    assert build_train_config(None, None, ["model.image_size=32"], {}).fit_to_data == f"epochs,{regularisation}"
    assert build_train_config(None, None, [], {"epochs": 3.0}).fit_to_data == f"model.image_size,{regularisation}"
    given = build_train_config(None, None, ["model.dropout=0.2"], {"weight_decay": 0.01}).fit_to_data
    assert given == "model.image_size,epochs,augment_images"
    assert build_train_config("test", None, [], {}).fit_to_data == ""
    assert build_train_config(None, None, [], {"model.llm": "x.gguf"}).select_checkpoint == "last"


def test_held_out_validation_shares_no_image_with_train(tmp_path):
    rows = load_built_dataset(synthetic(tmp_path, 32, num_train=200, num_val=0))["train"]
    train, held = carve_validation(rows, 0.1, seed=0)
    assert len(train) + len(held) == len(rows) and 0 < len(held) < len(rows) * 0.25

    def images(ds):
        return {cells[0]["path"] for cells in ds.with_format("arrow")["images"].to_pylist()}

    assert not images(train) & images(held)
    assert 10 <= len(images(held)) <= 35  # ~10% of 200 scenes
    again, _ = carve_validation(rows, 0.1, seed=0)
    assert again["id"] == train["id"]


def test_best_checkpoint_is_the_exported_model(tmp_path, tiny_dataset):
    from vitcli.training.run import train

    out = tmp_path / "run"
    flags = {"data": str(tiny_dataset), "output": str(out), "device": "cpu", "tensorboard": False}
    sets = ["select_checkpoint=best", "eval_every_steps=1", "max_steps=4", "eval_max_samples=4", "learning_rate=0.05"]
    result = train(build_train_config("test", None, sets, flags))
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    scores = {r["step"]: r["eval_selection_score"] for r in logged if "eval_selection_score" in r}
    assert sorted(scores) == [1, 2, 3, 4]
    best = max(scores.values())
    assert result.selected_step == min(s for s, v in scores.items() if v == best)  # ties keep the earlier one
    assert result.selection_value == pytest.approx(best, abs=1e-4)
    final, chosen = weights(out), weights(out / "checkpoints" / f"checkpoint-{result.selected_step}")
    assert all((final[k] == chosen[k]).all() for k in final)
    if result.selected_step != 4:
        last = weights(out / "checkpoints" / "checkpoint-4")
        assert any((final[k] != last[k]).any() for k in final)
