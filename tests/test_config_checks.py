"""Config values are checked in one place before any work: each bad value, whether it comes from a flag, --set or
a --config file, exits 2 with one 'Error:' line and a 'Hint:' line, no traceback, and leaves nothing behind."""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from vitcli import config_checks
from vitcli.cli.app import app
from vitcli.config import GenerationConfig, build_train_config
from vitcli.config_checks import validate_generation_config
from vitcli.runtime.errors import ConfigError, UsageError

runner = CliRunner()

FLAGS = [  # (argv after `vitcli train --data D --output O`, a piece of the Error line)
    (["--learning-rate", "-1"], "learning_rate must be > 0"),
    (["--learning-rate", "0"], "learning_rate must be > 0"),
    (["--learning-rate", "nan"], "learning_rate must be a finite number"),
    (["--epochs", "0"], "epochs must be > 0"),
    (["--max-steps", "-1"], "max_steps must be >= 0"),
    (["--weight-decay", "-0.1"], "weight_decay must be >= 0"),
    (["--max-length", "-5"], "max_length must be >= 0"),
    (["--save-every-steps", "-1"], "save_every_steps must be >= 0"),
    (["--keep-last-checkpoints", "-1"], "keep_last_checkpoints must be >= 0"),
    (["--eval-every-steps", "-2"], "eval_every_steps must be >= 0"),
    (["--contrastive-weight", "-1"], "contrastive_weight must be >= 0"),
    (["--stage", "pretrain"], "unknown stage 'pretrain'"),
    (["--arch", "gpt"], "unknown model.arch 'gpt'"),
    (["--projector", "mlp3"], "unknown model.projector 'mlp3'"),
    (["--device", "gpu"], "unknown device 'gpu'"),
    (["--dtype", "int8"], "unknown dtype 'int8'"),
    (["--stage", "align", "--lora"], "--lora adapts the LM"),
    (["--resume", "--overwrite"], "--overwrite would delete it"),
    (["--model", "some/vlm", "--llm", "some/lm"], "cannot be combined with --vision/--llm"),
]
SETS = [  # --set key=value
    ("warmup_ratio=1.0", "warmup_ratio must be in [0, 1)"),
    ("model.dropout=1", "model.dropout must be in [0, 1)"),
    ("lora_dropout=-0.1", "lora_dropout must be in [0, 1)"),
    ("contrastive_temperature=0", "contrastive_temperature must be > 0"),
    ("pack_turns=0", "pack_turns must be >= 1"),
    ("log_every_steps=0", "log_every_steps must be >= 1"),
    ("eval_max_samples=0", "eval_max_samples must be >= 1"),
    ("gradient_accumulation_steps=0", "gradient_accumulation_steps must be >= 1"),
    ("max_grad_norm=-1", "max_grad_norm must be >= 0"),
    ("vision_learning_rate=0", "vision_learning_rate must be > 0"),
    ("model.image_size=50", "not a multiple of model.patch_size"),
    ("model.patch_size=0", "model.patch_size must be >= 1"),
    ("loss_reduction=mean", "unknown loss_reduction 'mean'"),
    ("model.vision_type=vit", "unknown model.vision_type 'vit'"),
    ("device=cuda:x", "unknown device 'cuda:x'"),
    ("epochs=abc", "'epochs' expects float"),
    ("max_steps=2.5", "'max_steps' expects int"),
    ("learnign_rate=0.1", "unknown config key 'learnign_rate'"),
]
FILES = [  # --config file contents
    ({"learning_rate": -0.001}, "learning_rate must be > 0"),
    ({"per_device_batch_size": 0}, "per_device_batch_size must be >= 1"),
    ({"model": {"image_size": 0}}, "model.image_size must be >= 1"),
    ({"stage": "align", "lora": True}, "--lora adapts the LM"),
    ({"lora_r": 0}, "lora_r must be >= 1"),
    ({"lora_alpha": 0}, "lora_alpha must be >= 1"),
    ({"projector_learning_rate": -1}, "projector_learning_rate must be > 0"),
    ({"model": {"vision_feature_select_strategy": "cls"}}, "unknown model.vision_feature_select_strategy"),
    ({"epochs": 0}, "epochs must be > 0"),
    ({"warmup_ratio": -0.1}, "warmup_ratio must be in [0, 1)"),
    ({"resume": True, "overwrite": True}, "--overwrite would delete it"),
    ({"modle": {"image_size": 32}}, "unknown config key 'modle.image_size'"),
]
CASES = (
    [pytest.param(argv, msg, id="flag " + " ".join(argv)) for argv, msg in FLAGS]
    + [pytest.param(["--set", kv], msg, id=f"set {kv}") for kv, msg in SETS]
    + [pytest.param({"config": data}, msg, id=f"config {data}") for data, msg in FILES]
)


def test_the_table_is_big_and_spread_over_the_three_sources():
    assert len(CASES) >= 25 and min(len(FLAGS), len(SETS), len(FILES)) >= 8


@pytest.mark.parametrize("extra, message", CASES)
def test_bad_value_exits_2_with_error_and_hint(extra, message, tmp_path):
    if isinstance(extra, dict):
        path = tmp_path / "train.yaml"
        path.write_text(yaml.safe_dump(extra["config"]))
        extra = ["--config", str(path)]
    before = sorted(p.name for p in tmp_path.iterdir())
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "run"), *extra])
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    lines = res.stderr.splitlines()
    assert [line.startswith("Error: ") for line in lines] == [True, False], res.stderr
    assert message in lines[0] and lines[1].startswith("Hint: ") and len(lines[1]) > len("Hint: ")
    assert "Traceback" not in res.output and res.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run folder, nothing else either


def test_unknown_key_hint_says_did_you_mean():
    with pytest.raises(ConfigError) as err:
        build_train_config(None, None, ["model.img_size=32"], {})
    assert err.value.hint == "did you mean 'model.image_size' or 'model.vision_image_size'?"


def test_every_preset_and_the_pretrained_recipe_are_valid():
    for preset in ("tiny", "pretrained", "test"):
        build_train_config(preset, None, [], {"data": "d", "output": "o"})
    build_train_config(None, None, ["stage=instruct", "lora=true", "device=cuda:1", "dtype=bf16"], {"model.llm": "x"})
    build_train_config(None, None, ["epochs=0", "max_steps=5", "resume=true"], {})  # max_steps replaces epochs


def test_choices_match_the_modules_that_use_them():
    from vitcli.modeling.compose import PROJECTORS
    from vitcli.modeling.freeze import STAGES
    from vitcli.training.answer_loss import REDUCTIONS

    assert (config_checks.STAGES, config_checks.PROJECTORS, config_checks.LOSS_REDUCTIONS) == (
        STAGES,
        PROJECTORS,
        REDUCTIONS,
    )


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_new_tokens", 0, "max_new_tokens must be >= 1"),
        ("num_beams", 0, "num_beams must be >= 1"),
        ("temperature", -0.5, "temperature must be >= 0"),
        ("top_p", 0.0, "top_p must be in (0, 1]"),
        ("top_p", 1.5, "top_p must be in (0, 1]"),
        ("batch_size", 0, "batch_size must be >= 1"),
        ("temperature", float("inf"), "temperature must be a finite number"),
    ],
)
def test_generation_config_checks(field, value, message):
    validate_generation_config(GenerationConfig())
    with pytest.raises(UsageError, match=re.escape(message)):
        validate_generation_config(GenerationConfig(**{field: value}))


def test_caption_top_p_zero_is_refused_before_the_model_loads(tmp_path):
    res = runner.invoke(app, ["caption", "--model", str(tmp_path / "none"), "--top-p", "0", str(tmp_path / "a.png")])
    assert res.exit_code == 2 and res.stderr.splitlines() == [
        "Error: top_p must be in (0, 1], got 0.0",
        "Hint: pass --top-p with a value in (0, 1]",
    ]
