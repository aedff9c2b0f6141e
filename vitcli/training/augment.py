"""Answer-preserving image augmentation for the LM loss (`--set augment_images=F`).

Visual instruction data asks about colour, position, count and text in the image, so the augmentations SimCLR
uses (flips, colour jitter, crops that can cut objects out) would change the right answer. What is left is a small
translation: each image moves by up to F of its side in x and y (a whole number of pixels drawn per image), the
uncovered border repeats the edge pixels, and the content stays in its grid cell for F well under 1/6."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shift_images(pixels: torch.Tensor, fraction: float) -> torch.Tensor:
    """Each image of `pixels` (..., C, H, W) translated by a random whole-pixel offset in [-F*H, F*H] x [-F*W, F*W],
    drawn from torch's global RNG (the Trainer seeds and checkpoints it); edges replicated, shape kept."""
    *lead, c, h, w = pixels.shape
    flat = pixels.reshape(-1, c, h, w)
    dy_max, dx_max = int(fraction * h), int(fraction * w)
    if fraction <= 0 or (dy_max == 0 and dx_max == 0) or len(flat) == 0:
        return pixels
    padded = F.pad(flat.float(), (dx_max, dx_max, dy_max, dy_max), mode="replicate").to(flat.dtype)
    dy = torch.randint(0, 2 * dy_max + 1, (len(flat),)).tolist()
    dx = torch.randint(0, 2 * dx_max + 1, (len(flat),)).tolist()
    moved = torch.stack([img[:, y : y + h, x : x + w] for img, y, x in zip(padded, dy, dx, strict=True)])
    return moved.reshape(*lead, c, h, w)


def augment_batch(inputs: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """The batch with its pixel_values shifted (a batch without images is returned as it is)."""
    pixels = inputs.get("pixel_values")
    if pixels is None:
        return inputs
    if not (pixels.ndim in (4, 5) and pixels.shape[-3] in (1, 3)):  # Qwen2-VL-style flattened patch sequences
        from vitcli.runtime.errors import ConfigError

        raise ConfigError(
            f"augment_images shifts image tensors (B, C, H, W); this model's processor gives {tuple(pixels.shape)}",
            "drop --set augment_images for this model family",
        )
    return {**inputs, "pixel_values": shift_images(pixels, fraction)}
