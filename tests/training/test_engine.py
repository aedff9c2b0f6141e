"""The engine around the Trainer: checkpoint rotation, periodic evaluation, metrics.jsonl + TensorBoard + loss
curve, the memory estimate, gradient accumulation, length-grouped batches, label checks, the InfoNCE term."""

from __future__ import annotations

import math

import pytest
import torch

from tests.training.conftest import losses


def test_checkpoints_eval_logs_and_curve(make_cfg, tmp_path):
    from vitcli.training.loop import read_metrics
    from vitcli.training.run import train

    out = tmp_path / "run"
    notes: list[str] = []
    result = train(
        make_cfg(
            out,
            max_steps=6,
            save_every_steps=2,
            keep_last_checkpoints=2,
            eval_every_steps=4,
            eval_max_samples=2,
            tensorboard=True,
        ),
        notify=notes.append,
    )
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-4", "checkpoint-6"]
    rows = read_metrics(out / "metrics.jsonl")
    evals = [r for r in rows if "eval_vqa_accuracy" in r]
    assert [r["step"] for r in evals] == [4, 6] and all("eval_cider" in r for r in evals)  # every 4, and the end
    assert [r["step"] for r in rows if "eval_loss" in r] == [4, 6]
    assert sorted(losses(out)) == [1, 2, 3, 4, 5, 6]
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and result.loss_curve
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").iterdir())
    assert any(n.startswith("memory estimate per device:") for n in notes)
    assert result.memory_estimate_gib > 0
    assert not (out / "training_args.bin").exists()  # no pickle in the final model folder


def test_memory_estimate_counts_adam_state_for_trainable_only():
    import torch

    from vitcli.config import TrainConfig
    from vitcli.training.report import estimate_memory

    class Cfg:
        text_config = type("T", (), {"num_hidden_layers": 1, "hidden_size": 8, "vocab_size": 10})()
        vision_config = type("V", (), {"num_hidden_layers": 1})()

    model = torch.nn.Linear(1024, 1024)  # ~1M params
    model.config = Cfg()
    full = estimate_memory(model, TrainConfig(max_length=1, per_device_batch_size=1), torch.float32)
    model.weight.requires_grad_(False)
    frozen = estimate_memory(model, TrainConfig(max_length=1, per_device_batch_size=1), torch.float32)
    assert full.optimizer_gib == pytest.approx(2 * full.weights_gib, rel=0.01)
    assert frozen.optimizer_gib < full.optimizer_gib / 100


def test_gradient_accumulation_and_length_grouping_train(make_cfg, tmp_path):
    from vitcli.training.run import train

    result = train(
        make_cfg(
            tmp_path / "run",
            max_steps=2,
            gradient_accumulation_steps=2,
            group_by_length=True,
            weight_decay=0.1,
            per_device_batch_size=2,
            gradient_checkpointing=True,
        )
    )
    assert result.global_step == 2
    assert result.final_loss == result.final_loss  # not NaN


def test_contrastive_term_is_logged_and_changes_training(make_cfg, tmp_path):
    from vitcli.training.loop import read_metrics
    from vitcli.training.run import train

    plain = train(make_cfg(tmp_path / "plain", max_steps=3))
    out = tmp_path / "nce"
    mixed = train(make_cfg(out, max_steps=3, contrastive_weight=0.5))
    rows = [r for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert all(r["contrastive_loss"] > 0 for r in rows)
    assert mixed.first_loss == pytest.approx(plain.first_loss + 0.5 * rows[0]["contrastive_loss"], rel=1e-4)


def test_info_nce_prefers_matching_pairs():
    import torch

    from vitcli.training.contrastive import info_nce, pooled_pairs

    emb = torch.eye(4)
    assert info_nce(emb, emb, 0.07) < 0.01  # matching pairs: near-zero loss
    assert info_nce(emb, emb.roll(1, 0), 0.07) > 10  # every pair mismatched
    # tau = 1: each row's logits are (1, 0, 0, 0), so both directions give -log(e / (e + 3)) = log(e + 3) - 1.
    assert float(info_nce(emb, emb, 1.0)) == pytest.approx(math.log(math.e + 3) - 1, rel=1e-6)
    ids = torch.tensor([[9, 9, 1, 2], [9, 9, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    embeds = torch.arange(8.0).view(1, 4, 2).repeat(2, 1, 1)
    img, txt = pooled_pairs(embeds, ids, mask, image_token_id=9)
    assert img.tolist() == [[1.0, 2.0], [1.0, 2.0]] and txt.tolist() == [[5.0, 6.0], [4.0, 5.0]]


def test_bad_samples_fail_loudly_or_skip_with_a_count(make_cfg, tmp_path):
    from vitcli.runtime.errors import DataError
    from vitcli.training.run import train

    # 32 px images with 8 px patches = 16 image tokens, after a few prompt tokens: max_length 10 cuts them.
    with pytest.raises(DataError, match=r"image tokens cut by --max-length") as err:
        train(make_cfg(tmp_path / "a", max_steps=1, max_length=10))
    assert "--skip-bad-samples" in err.value.hint
    assert not (tmp_path / "a" / "metrics.jsonl").exists()


def test_sample_checks_count_each_reason():
    from vitcli.data.chat import IGNORE_INDEX as X
    from vitcli.data.chat import Encoded
    from vitcli.runtime.errors import DataError
    from vitcli.training.samples import PROBLEMS_KEY, TRUNCATED, SampleLog, check_encoded, problem_batch

    enc = [
        Encoded([9, 9, 1, 2, 3], [X, X, X, 2, 3]),  # truncated, still trains
        Encoded([9, 9, 1, 2], [X, X, X, X]),  # no answer at all
        Encoded([1, 2, 3, 9, 9], [X, X, X, X, X]),  # image cut at max_length 4
        Encoded([9, 9, 1, 2, 3, 4, 5], [X, X, X, X, X, 4, 5]),  # answer cut off at 4
        Encoded([9, 9, 1, 2, 3, 4], [X, X, X, 2, 3, 4]),  # truncated, still trains
    ]
    checked = [check_encoded(e, 4, 9) for e in enc]
    problems = [(f"sample {i}", p) for i, (_, p) in enumerate(checked) if p is not None]
    assert [p for _, p in problems] == [
        TRUNCATED,
        "no answer tokens to learn (empty labels)",
        "image tokens cut by --max-length",
        "answer cut off by --max-length",
        TRUNCATED,
    ]
    assert [e.input_ids for e, _ in checked[::4]] == [[9, 9, 1, 2], [9, 9, 1, 2]]
    with pytest.raises(DataError, match=r"train sample 1 cannot train \(no answer tokens"):
        SampleLog().take(problem_batch(problems[1:2]))
    log = SampleLog()
    for _ in range(2):  # a sample met again (a later epoch, a stand-in) counts once
        batch = log.take({"input_ids": 0, PROBLEMS_KEY: problems})
        assert batch == {"input_ids": 0}  # the keys never reach the model
    assert log.report.num_skipped == 3 and log.report.num_truncated == 2
    assert log.report.reasons == {
        "no answer tokens to learn (empty labels)": 1,
        "image tokens cut by --max-length": 1,
        "answer cut off by --max-length": 1,
    }


def test_fp16_on_cpu_is_refused(make_cfg, tmp_path):
    from vitcli.runtime.errors import ConfigError
    from vitcli.training.run import train

    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        train(make_cfg(tmp_path / "r", dtype="fp16"))


def test_example_configs_load():
    import json
    from pathlib import Path

    from vitcli.config import build_train_config

    examples = Path(__file__).resolve().parents[2] / "examples"
    cfg = build_train_config("test", str(examples / "train.yaml"), [], {"max_steps": 1})
    assert cfg.max_steps == 1 and cfg.group_by_length and cfg.save_every_steps == 200
    for stage in (2, 3):  # what vitcli's flags set must be "auto", or DeepSpeed contradicts them (and HF refuses)
        ds = json.loads((examples / f"deepspeed_zero{stage}.json").read_text())
        assert ds["zero_optimization"]["stage"] == stage
        flags = (
            "train_micro_batch_size_per_gpu",
            "gradient_accumulation_steps",
            "gradient_clipping",
            "train_batch_size",
        )
        assert {k: ds[k] for k in flags} == dict.fromkeys(flags, "auto")
        assert ds["bf16"]["enabled"] == ds["fp16"]["enabled"] == "auto"  # follows --dtype
    from vitcli.modeling.compose import compose_model

    model, _ = compose_model(cfg.model, ["a red circle", "what colour is it"])
    wrap = json.loads((examples / "fsdp.json").read_text())["transformer_layer_cls_to_wrap"]
    layers = {type(m).__name__ for m in model.modules()}
    assert layers & set(wrap) == {"LlamaDecoderLayer", "SiglipEncoderLayer"}  # FSDP finds vitcli's own blocks


def test_deepspeed_without_the_package_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    from vitcli.config import TrainConfig
    from vitcli.runtime.errors import ConfigError
    from vitcli.training.loop import make_training_args

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real(name, *a))
    with pytest.raises(ConfigError, match="deepspeed package") as err:
        make_training_args(TrainConfig(deepspeed="examples/deepspeed_zero2.json"), tmp_path, "cpu", torch.float32)
    assert "vitcli[deepspeed]" in err.value.hint
