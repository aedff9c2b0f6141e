"""The one place that opens an image for a model: a file path, encoded bytes, a `datasets` Image cell or a PIL
image -> an upright RGB PIL image (EXIF rotation applied, alpha on white). Building a dataset verifies and
size-caps images first (data/validate.py); everything downstream opens them through open_image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from vitcli.runtime.errors import DataError


def to_rgb(img: Any) -> Any:
    """Any Pillow mode -> RGB: alpha on white, 16/32-bit integer scaled to 8-bit, CMYK/P/L converted."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return img if img.mode == "RGB" else img.convert("RGB")


def open_image(source: Any, name: str | None = None) -> Any:
    """An upright RGB image from a path, bytes, a datasets cell ({'bytes', 'path'}: a built dataset's rows refer
    to files by path, older ones embed bytes) or a PIL image; a DataError naming the image (`name`, e.g. the row
    id, and the file when there is one) when it is missing or unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, Image.Image):
        return to_rgb(ImageOps.exif_transpose(source))
    if isinstance(source, dict):
        source = source.get("bytes") or source.get("path")
    is_path = isinstance(source, (str, Path))
    label = name or (str(source) if is_path else "<image bytes>")
    if name and is_path and str(source) != name:
        label = f"{source}' of row '{name}"  # reads: image 'PATH' of row 'ID'
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            img.load()
            return to_rgb(ImageOps.exif_transpose(img))
    except (FileNotFoundError, IsADirectoryError):
        hint = "restore the file, or rebuild the dataset" if name and is_path else "check the path"
        raise DataError(f"image '{label}' not found", hint) from None
    except (UnidentifiedImageError, OSError, ValueError, TypeError, Image.DecompressionBombError) as e:
        raise DataError(f"'{label}' is not a readable image ({type(e).__name__})", "check the file") from None
