"""The optional image-text InfoNCE term (--contrastive-weight W, temperature tau), as the seed's contrastive loss.

image embedding = mean of the projected image tokens (what the LM sees of the image), text embedding = mean of
the LM's input embeddings of the sample's text tokens (no attention to the image, so nothing leaks). Both are
L2-normalised; the loss is the symmetric cross-entropy of the (B, B) cosine-similarity matrix / tau with the
matching pairs on the diagonal. Samples without an image are left out; a batch with < 2 images adds 0."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of paired embeddings (B, D) x (B, D) -> scalar."""
    img = F.normalize(image_emb.float(), dim=-1)
    txt = F.normalize(text_emb.float(), dim=-1)
    logits = img @ txt.T / temperature  # (B, B)
    target = torch.arange(len(img), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def pooled_pairs(
    inputs_embeds: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_token_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(image_emb, text_emb), each (B_img, D), from the LM's input embeddings (image features already merged)."""
    is_image = input_ids == image_token_id  # (B, T)
    has_image = is_image.any(dim=1)
    is_text = attention_mask.bool() & ~is_image
    img = (inputs_embeds * is_image.unsqueeze(-1)).sum(1) / is_image.sum(1, keepdim=True).clamp(min=1)  # (B, D)
    txt = (inputs_embeds * is_text.unsqueeze(-1)).sum(1) / is_text.sum(1, keepdim=True).clamp(min=1)
    return img[has_image], txt[has_image]


def contrastive_loss(outputs, inputs: dict[str, torch.Tensor], image_token_id: int, temperature: float) -> torch.Tensor:
    """InfoNCE from a forward pass run with output_hidden_states=True (hidden_states[0] = input embeddings)."""
    embeds = outputs.hidden_states[0]  # (B, T, D)
    mask = inputs.get("attention_mask", torch.ones_like(inputs["input_ids"]))
    if mask.ndim == 4:  # packed samples (collate.segment_mask): the diagonal is the padding mask
        mask = mask[:, 0].diagonal(dim1=1, dim2=2)
        mask = mask == 0 if mask.is_floating_point() else mask  # additive masks: 0 = attended
    img, txt = pooled_pairs(embeds, inputs["input_ids"], mask, image_token_id)
    if len(img) < 2:
        return embeds.sum() * 0.0
    return info_nce(img, txt, temperature)
