"""The optional image-text InfoNCE term (--contrastive-weight W, temperature tau), as the seed's contrastive loss.

image embedding = mean of the projected image tokens (what the LM sees of the image), text embedding = mean of
the LM's input embeddings of the sample's text tokens (no attention to the image, so nothing leaks). Both are
L2-normalised; the loss is the symmetric cross-entropy of the (B, B) cosine-similarity matrix / tau with the
matching pairs on the diagonal. Samples without an image are left out; a batch with < 2 images adds 0.
`--contrastive views` is the seed's NT-Xent instead (SimCLR): two augmented views of each image through the vision
tower, pooled, 2N views per batch, each view's positive the other view of its image (views_loss, below)."""

from __future__ import annotations

import math

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


# --- --contrastive views: NT-Xent over two augmented views of each image --------------------------------------------
def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent over 2N embeddings (2N, D) ordered [view 1 of images 1..N, view 2 of images 1..N]:
    l(i, j) = -log exp(sim(i, j)/tau) / sum_{k != i} exp(sim(i, k)/tau), sim = cosine, averaged over all 2N anchors."""
    n = len(z) // 2
    z = F.normalize(z.float(), dim=-1)
    sim = z @ z.T / temperature  # (2N, 2N)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))  # k != i
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positive)


def augment(pixels: torch.Tensor) -> torch.Tensor:
    """One random view of each image (B, C, H, W), drawn from torch's global RNG (the Trainer seeds and checkpoints
    it): a random resized crop (area 35-100%, aspect 3/4-4/3) back to H x W, a horizontal flip with p = 0.5, and
    light colour jitter (per-image contrast x[0.8, 1.2] and brightness +-0.2, on the normalised pixels)."""
    b, _, h, w = pixels.shape
    views = []
    for img in pixels:
        area = float(torch.empty(()).uniform_(0.35, 1.0)) * h * w
        aspect = math.exp(float(torch.empty(()).uniform_(math.log(3 / 4), math.log(4 / 3))))
        ch = max(1, min(h, round(math.sqrt(area / aspect))))
        cw = max(1, min(w, round(math.sqrt(area * aspect))))
        top = int(torch.randint(0, h - ch + 1, ()))
        left = int(torch.randint(0, w - cw + 1, ()))
        crop = img[None, :, top : top + ch, left : left + cw]
        views.append(F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0])
    out = torch.stack(views)  # (B, C, H, W)
    flip = torch.rand(b, device=out.device) < 0.5
    out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    contrast = torch.empty(b, 1, 1, 1).uniform_(0.8, 1.2).to(out)
    brightness = torch.empty(b, 1, 1, 1).uniform_(-0.2, 0.2).to(out)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return (out - mean) * contrast + mean + brightness


def pooled_tower_features(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Mean over patches (or the spatial grid, for CNN towers) of the tower's hidden state the image tokens come from
    (config.vision_feature_layer; -1: the last hidden state) -> (B, D). No projection head: nothing extra to train,
    save or drop at export, and resume/LoRA see the same parameters."""
    inner = getattr(model, "model", model)
    tower = getattr(inner, "vision_tower", None) or getattr(model, "vision_tower", None)
    if tower is None:
        from vitcli.runtime.errors import ConfigError

        raise ConfigError("--contrastive views needs a model with a vision tower", "use --contrastive text")
    layer = getattr(model.config, "vision_feature_layer", -1)
    earlier = isinstance(layer, int) and layer != -1  # e.g. a CNN stage before the ImageNet head
    out = tower(pixels.to(next(tower.parameters()).dtype), output_hidden_states=earlier)
    hidden = out.hidden_states[layer] if earlier else getattr(out, "last_hidden_state", None)
    hidden = out[0] if hidden is None else hidden
    return hidden.mean(dim=1) if hidden.ndim == 3 else hidden.flatten(2).mean(-1)  # (B, D)


def views_loss(model: torch.nn.Module, pixel_values: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent between two augmented views of each image in the batch (a batch with < 2 images adds 0)."""
    pixels = pixel_values.reshape(-1, *pixel_values.shape[-3:])  # (N, C, H, W): one entry per image
    z = pooled_tower_features(model, torch.cat([augment(pixels), augment(pixels)]))  # (2N, D)
    if len(pixels) < 2:
        return z.sum() * 0.0
    return nt_xent(z, temperature)
