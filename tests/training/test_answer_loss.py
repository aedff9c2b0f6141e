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


@pytest.mark.parametrize("reduction", ["token", "turn"])
def test_answer_logits_only_give_the_models_own_loss_and_gradients(reduction):
    """Projecting only the answer positions (logits_to_keep=answer_mask) changes neither the loss nor its gradients:
    the oracle is transformers' own loss on full logits (token) and our full-logit path (turn)."""
    from PIL import Image

    from vitcli.config import ModelConfig
    from vitcli.modeling.compose import compose_model
    from vitcli.training.answer_loss import answer_mask, projects_answers_only

    torch.manual_seed(0)
    cfg = ModelConfig(text_hidden_size=32, text_num_layers=1, text_num_heads=2, text_intermediate_size=64)
    model, processor = compose_model(cfg, ["what colour is it", "red", "a red square on white"])
    assert projects_answers_only(model, processor)
    prompt = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat colour is it"}], tokenize=False, add_generation_prompt=True
    )
    batch = processor(images=[Image.new("RGB", (40, 40), "red")] * 2, text=[prompt + "red"] * 2, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], X)
    labels[0, -3:-1] = batch["input_ids"][0, -3:-1]  # two answer tokens in row 0, one in row 1
    labels[1, -1] = batch["input_ids"][1, -1]

    def loss_and_grads(full: bool, num_items):
        model.zero_grad()
        if full and reduction == "token":
            loss = model(**batch, labels=labels, num_items_in_batch=num_items).loss  # transformers' ForCausalLMLoss
        elif full:
            loss = answer_loss_func(reduction)(model(**batch), labels, num_items_in_batch=num_items)
        else:
            outputs = model(**batch, logits_to_keep=answer_mask(labels))
            assert outputs.logits.shape[0] == 3 and outputs.logits.dim() == 2  # three rows of the vocabulary, not 2 x T
            loss = answer_loss_func(reduction, answers_only=True)(outputs, labels, num_items_in_batch=num_items)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    for num_items in (None, torch.tensor(6)):  # 6: as if another micro-batch held three more answer tokens
        expected, expected_grads = loss_and_grads(True, num_items)
        got, grads = loss_and_grads(False, num_items)
        assert torch.allclose(got, expected, atol=1e-6), (got, expected)
        assert len(grads) == len(expected_grads) > 0
        assert all(torch.allclose(g, e, atol=1e-6) for g, e in zip(grads, expected_grads, strict=True))


def test_training_with_answer_logits_only_matches_full_logits(tiny_dataset, tmp_path):
    losses = {}
    for flag in ("true", "false"):
        cfg = build_train_config(
            "test",
            None,
            [f"answer_logits_only={flag}"],
            {"data": str(tiny_dataset), "output": str(tmp_path / flag), "max_steps": 3, "device": "cpu", "seed": 0},
        )
        result = train(cfg)
        losses[flag] = (result.first_loss, result.final_loss)
    assert losses["true"] == pytest.approx(losses["false"], rel=1e-4)
