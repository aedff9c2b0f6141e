"""caption_images(cfg) -> CaptionRun: open images, run batched generation, keep per-image errors.
A bad image fails only itself; results come back in input order, batch by batch."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.config import GenerationConfig
from vitcli.runtime.errors import DataError

DEFAULT_PROMPT = "Describe the image briefly."
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class CaptionConfig:
    model: str = ""
    images: list[str] = field(default_factory=list)  # paths, or ['-'] for one path per line on stdin
    prompt: str = DEFAULT_PROMPT
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    device: str = "auto"
    dtype: str = "auto"
    fail_fast: bool = False
    trust_remote_code: bool = False


@dataclass
class CaptionResult:
    image: str
    prompt: str
    text: str | None
    model: str
    num_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        if row["error"] is None:
            row.pop("error")
        return row


def expand_inputs(items: Iterable[str], stdin: Iterable[str] | None = None) -> list[str]:
    """Paths as given; '-' reads one path per line from stdin; a directory yields its image files, sorted."""
    paths: list[str] = []
    for item in items:
        if item == "-":
            paths.extend(line.strip() for line in (stdin or sys.stdin) if line.strip())
        elif Path(item).is_dir():
            paths.extend(str(p) for p in sorted(Path(item).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            paths.append(item)
    if not paths:
        raise DataError("no images given", "pass image paths, a folder, or '-' to read paths from stdin")
    return paths


def open_image_file(path: str):
    """An upright RGB image, or a DataError naming the file and why it could not be read."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img).convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image '{path}' not found", "check the path") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise DataError(f"'{path}' is not a readable image ({type(e).__name__})", "check the file") from None


def caption_images(cfg: CaptionConfig, on_results: Callable[[list[CaptionResult]], None] | None = None,
                   stdin: Iterable[str] | None = None) -> list[CaptionResult]:
    from vitcli.inference.generate import generate_batch
    from vitcli.modeling.load import load_for_inference
    from vitcli.runtime.device import resolve_device, resolve_dtype

    paths = expand_inputs(cfg.images, stdin)
    device = resolve_device(cfg.device)
    model, processor = load_for_inference(cfg.model, device, resolve_dtype(cfg.dtype, device), cfg.trust_remote_code)
    results: list[CaptionResult] = []
    for start in range(0, len(paths), cfg.generation.batch_size):
        chunk = paths[start:start + cfg.generation.batch_size]
        batch: list[CaptionResult] = []
        ok_images, ok_slots = [], []
        for path in chunk:
            batch.append(CaptionResult(image=path, prompt=cfg.prompt, text=None, model=cfg.model))
            try:
                ok_images.append(open_image_file(path))
                ok_slots.append(len(batch) - 1)
            except DataError as e:
                if cfg.fail_fast:
                    raise
                batch[-1].error = e.message
        if ok_images:
            preds = generate_batch(model, processor, ok_images, [cfg.prompt] * len(ok_images), cfg.generation)
            for slot, pred in zip(ok_slots, preds):
                batch[slot].text, batch[slot].num_tokens, batch[slot].seconds = pred.text, pred.num_tokens, pred.seconds
        if on_results:
            on_results(batch)
        results.extend(batch)
    return results
