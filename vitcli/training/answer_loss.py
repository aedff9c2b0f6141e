"""How answer tokens are averaged into the loss. 'token' (the default everywhere) weighs every answer token the
same, so one long caption outweighs many one-word answers; 'turn' gives every answer the same total weight, and
'sqrt' sits between the two (each token 1/sqrt(answer length), InternVL 2.5's square averaging)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from vitcli.data.chat import IGNORE_INDEX

REDUCTIONS = ("token", "turn", "sqrt")


def answer_weights(labels: torch.Tensor, reduction: str) -> torch.Tensor:
    """(B, T) labels -> (B, T) float weights; an answer is a run of consecutive labelled tokens."""
    valid = labels != IGNORE_INDEX
    if reduction == "token":
        return valid.float()
    before = torch.zeros_like(valid)
    before[:, 1:] = valid[:, :-1]
    run = torch.cumsum((valid & ~before).flatten(), 0).view_as(labels)  # answer number, counted over the batch
    lengths = torch.bincount(run[valid])  # tokens per answer (index 0 unused)
    per_token = lengths.float().reciprocal() if reduction == "turn" else lengths.float().rsqrt()
    weights = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
    weights[valid] = per_token[run[valid]]
    return weights


def answer_loss_func(reduction: str) -> Callable | None:
    """A Trainer `compute_loss_func` for non-token reductions (None for 'token': the model's own loss is used).
    With gradient accumulation or several processes, each micro-batch's weighted mean counts in proportion to its
    share of answer tokens (`num_items_in_batch`), so the total stays a mean."""
    if reduction == "token":
        return None

    def loss_func(outputs, labels: torch.Tensor, num_items_in_batch: int | torch.Tensor | None = None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        targets = labels[:, 1:].to(logits.device)
        weights = answer_weights(targets, reduction)
        ce = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets.clamp(min=0), reduction="none")  # (B, T-1)
        loss = (ce * weights).sum() / weights.sum().clamp(min=1e-8)
        if num_items_in_batch is not None:
            loss = loss * (targets != IGNORE_INDEX).sum() / num_items_in_batch
        return loss

    return loss_func
