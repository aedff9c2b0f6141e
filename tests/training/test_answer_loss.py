"""Answer-loss reductions: token (the model's own mean), turn (every answer weighs the same) and sqrt."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vitcli.config import build_train_config
from vitcli.runtime.errors import ConfigError
from vitcli.training.answer_loss import answer_loss_func, answer_weights
from vitcli.training.run import train

X = -100


def test_weights_per_answer_run():
    labels = torch.tensor([[X, 5, 6, 7, 8, X, 9, X], [X, X, 4, 4, X, X, X, X]])  # answers of 4, 1 and 2 tokens
    assert answer_weights(labels, "token").tolist() == [[0, 1, 1, 1, 1, 0, 1, 0], [0, 0, 1, 1, 0, 0, 0, 0]]
    assert answer_weights(labels, "turn").tolist() == [
        [0, 0.25, 0.25, 0.25, 0.25, 0, 1, 0],
        [0, 0, 0.5, 0.5, 0, 0, 0, 0],
    ]
    sq = answer_weights(labels, "sqrt")
    assert torch.allclose(sq[0, 1:5], torch.full((4,), 0.5)) and sq[0, 6] == 1
    assert torch.allclose(sq[1, 2], torch.tensor(0.5**0.5))
    wrap = torch.tensor([[X, 1, 2], [3, 4, X]])  # an answer ending one row and one starting the next stay apart
    assert answer_weights(wrap, "turn").tolist() == [[0, 0.5, 0.5], [0.5, 0.5, 0]]


def test_turn_loss_is_the_mean_of_per_answer_means():
    torch.manual_seed(0)
    logits = torch.randn(2, 8, 11)
    labels = torch.tensor([[X, X, 5, 6, 7, 8, X, 9], [X, X, X, 4, 4, X, X, X]])  # after the shift: answers of 4, 1, 2
    ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:].clamp(min=0), reduction="none")
    per_answer = [ce[0, 1:5].mean(), ce[0, 6], ce[1, 2:4].mean()]
    turn = answer_loss_func("turn")({"logits": logits}, labels)
    assert torch.allclose(turn, torch.stack(per_answer).mean())
    token_mean = F.cross_entropy(logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=X)
    assert not torch.allclose(turn, token_mean) and answer_loss_func("token") is None
    # gradient accumulation: two micro-batches normalised by the total token count add up to a token-share mean
    halves = [
        answer_loss_func("turn")({"logits": logits[i : i + 1]}, labels[i : i + 1], num_items_in_batch=7) for i in (0, 1)
    ]
    expected = (torch.stack(per_answer[:2]).mean() * 5 + per_answer[2] * 2) / 7
    assert torch.allclose(sum(halves), expected)


def test_training_with_turn_reduction(tiny_dataset, tmp_path):
    cfg = build_train_config(
        "test",
        None,
        ["loss_reduction=turn", "pack_turns=5"],
        {"data": str(tiny_dataset), "output": str(tmp_path / "run"), "max_steps": 3, "device": "cpu"},
    )
    result = train(cfg)
    assert result.global_step == 3 and 0 < result.final_loss < result.first_loss < 10  # learns, seeded: 4.06 -> 3.97
    with pytest.raises(ConfigError, match="loss_reduction"):  # refused while the config is built
        build_train_config(
            "test", None, ["loss_reduction=mean"], {"data": str(tiny_dataset), "output": str(tmp_path / "bad")}
        )
    assert not (tmp_path / "bad").exists()
