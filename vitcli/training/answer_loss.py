"""How answer tokens are averaged into the loss. 'token' (the default everywhere) weighs every answer token the
same, so one long caption outweighs many one-word answers; 'turn' gives every answer the same total weight, and
'sqrt' sits between the two (each token 1/sqrt(answer length), InternVL 2.5's square averaging).

Only the positions that predict an answer token are projected onto the vocabulary (`logits_to_keep` with the
answer mask, which transformers' generative models take): the same loss, without the (B, T, vocab) logits of the
prompt, system text and image tokens (49k-262k columns per position for real LMs)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

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


def answer_mask(labels: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: the positions whose next token is an answer token, the only logits a causal LM's loss reads."""
    mask = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    mask[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return mask


def projects_answers_only(model: Any, processor: Any) -> bool:
    """Whether the model's family allows it (families.py) and its forward takes `logits_to_keep` (PEFT wrappers
    pass it through to the base model)."""
    from vitcli.modeling.adapter import FamilyAdapter

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    allowed = FamilyAdapter.for_model(base, processor).family.answer_logits
    return allowed and "logits_to_keep" in inspect.signature(base.forward).parameters


def answer_loss_func(reduction: str, answers_only: bool = False) -> Callable | None:
    """A Trainer `compute_loss_func` (None for 'token' on full logits: the model's own loss is used). It reads
    full (B, T, V) logits, or the (N, V) rows of the answer positions when the forward was given
    `logits_to_keep=answer_mask(labels)`. With gradient accumulation or several processes, each micro-batch's
    weighted mean counts in proportion to its share of answer tokens (`num_items_in_batch`), so the total stays a
    mean: for 'token' that is the model's own loss, sum / num_items_in_batch."""
    if reduction == "token" and not answers_only:
        return None

    def loss_func(outputs, labels: torch.Tensor, num_items_in_batch: int | torch.Tensor | None = None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        targets = labels[:, 1:].to(logits.device)
        weights = answer_weights(targets, reduction)  # over the whole rows: answers are runs of positions
        if logits.dim() == 2:  # only the answer positions were projected
            keep = targets != IGNORE_INDEX
            scored, kept_targets, kept_weights = logits, targets[keep], weights[keep]
        else:
            scored, kept_targets, kept_weights = logits[:, :-1].flatten(0, 1), targets.flatten(), weights.flatten()
        ce = F.cross_entropy(scored.float(), kept_targets.clamp(min=0), reduction="none")
        loss = (ce * kept_weights).sum() / kept_weights.sum().clamp(min=1e-8)
        if num_items_in_batch is not None:
            loss = loss * (targets != IGNORE_INDEX).sum() / num_items_in_batch
        return loss

    return loss_func
