"""Helpers for data tests: real image bytes made with Pillow (imported as `from data_helpers import ...`)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def image_bytes(
    fmt: str = "JPEG",
    mode: str = "RGB",
    size: tuple[int, int] = (24, 16),
    color=None,
    exif_orientation: int | None = None,
) -> bytes:
    color = (
        color
        if color is not None
        else {
            "RGB": (200, 30, 40),
            "RGBA": (0, 0, 255, 128),
            "L": 90,
            "CMYK": (0, 255, 255, 0),
            "P": 3,
            "I;16": 40000,
        }[mode]
    )
    img = Image.new(mode, size, color)
    img.putpixel((0, 0), (255, 255, 255, 255)[: len(mode)] if mode in ("RGB", "RGBA", "CMYK") else 0)
    buf = io.BytesIO()
    kw = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kw["exif"] = exif.tobytes()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def conv(question: str, answer: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def png_header_only(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w x h pixels: a decompression bomb as far as a reader can tell."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def stored_images(dataset_dir) -> dict[str, int]:
    """{distinct, bytes} of the image files a built dataset holds, counted from the folder itself."""
    from pathlib import Path

    files = [p for p in (Path(dataset_dir) / "images").rglob("*") if p.is_file()]
    return {"distinct": len(files), "bytes": sum(p.stat().st_size for p in files)}
