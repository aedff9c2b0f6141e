"""Row and image checks. Readers yield Candidates (a Record whose images are still paths or raw bytes) or
Rejections; check_text() vets messages/ids/UTF-8 cheaply, load_image() decodes fully and normalises to RGB
(runs in worker processes). Every failure is a reason string "<kind>: <detail>", never a silent drop.

Image storage: a JPEG that is already RGB and upright (EXIF orientation 1 or absent), or an 8-bit RGB PNG
without transparency, keeps its original bytes (no generation loss, no re-encode cost). Anything else
(RGBA/LA/P/L/1/CMYK/16-bit, rotated by EXIF, GIF/WebP/BMP/TIFF) is transposed, converted to RGB (alpha
composited on white, 16-bit scaled to 8-bit) and re-encoded as lossless PNG without metadata."""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitcli.data.records import IMAGE_TOKEN, Record

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold (~9459 x 9459)
ROLES = ("system", "user", "assistant")

# The reason kinds a rejection can carry (the text before ':' is what the summary table groups by).
NOT_FOUND = "image not found"
UNREADABLE = "image unreadable"
TOO_LARGE = "image too large"
ESCAPES = "image path escapes image root"
TAG_COUNT = "image tag count"
EMPTY_ANSWER = "empty answer"
DUPLICATE_ID = "duplicate id"
MALFORMED = "malformed row"
BAD_UTF8 = "invalid utf-8"


@dataclass
class Rejection:
    source: str  # file (or generator) the row came from, by name
    row: int | str  # 1-based line/row number, or the row's id where a format has no rows
    reason: str  # "<kind>: <detail>"


@dataclass
class Candidate:
    """A row that parsed; its images are not loaded yet. Each entry of `images` is a path relative to
    `image_root` or raw bytes, one per '<image>' in the messages, in order (empty: a text-only row)."""

    record: Record
    images: list[str | bytes]
    image_root: str
    file: str
    row: int | str
    split: str = "train"


def is_utf8_clean(value: Any) -> bool:
    """False if any string inside holds lone surrogates (JSON '\\ud800' escapes or undecodable bytes). One C-speed
    pass through json for JSON-shaped values (the common case, per row), the walk below for anything else."""
    import json

    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
    except (TypeError, ValueError, RecursionError):
        return _walk_utf8_clean(value)


def _walk_utf8_clean(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_walk_utf8_clean(k) and _walk_utf8_clean(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_walk_utf8_clean(v) for v in value)
    return True


def check_text(rec: Record, num_images: int) -> str | None:
    """Why the record's text is unusable, or None. The '<image>' placeholders must number `num_images`, the first
    in the first user turn. Unanswered rows (no assistant turn) are allowed only when they carry no answers at
    all (e.g. VQA test questions)."""
    if not is_utf8_clean([rec.id, rec.messages, rec.references, rec.answers]):
        return f"{BAD_UTF8}: text holds undecodable characters"
    if not isinstance(rec.id, str) or not rec.id:
        return f"{MALFORMED}: empty id"
    if (
        not isinstance(rec.messages, list)
        or not rec.messages
        or any(
            not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str)
            for m in rec.messages
        )
    ):
        return f"{MALFORMED}: messages must be a non-empty list of {{role: system|user|assistant, content: str}}"
    if not all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in (rec.references, rec.answers)):
        return f"{MALFORMED}: references and answers must be lists of strings"
    if not all(v is None or isinstance(v, str) for v in (rec.answer_type, rec.question_type)):
        return f"{MALFORMED}: answer_type and question_type must be strings"
    users = [i for i, m in enumerate(rec.messages) if m["role"] == "user"]
    if not users:
        return f"{MALFORMED}: no user turn"
    reason = tag_count_problem([m["content"].count(IMAGE_TOKEN) for m in rec.messages], users[0], num_images)
    if reason:
        return reason
    for m in rec.messages:
        if m["role"] == "assistant" and not m["content"].strip():
            return f"{EMPTY_ANSWER}: an assistant turn is empty"
    if rec.task == "vqa" and any(not a.strip() for a in rec.answers):
        return f"{EMPTY_ANSWER}: a VQA answer is empty"
    return None


def tag_count_problem(counts: list[int], first_user: int, num_images: int) -> str | None:
    """The '<image>' count rule: one placeholder per image (`counts` per message), the first in the first user
    turn (a single image: all of it there)."""
    found = sum(counts)
    if num_images == 0 and found:
        return f"{TAG_COUNT}: found {found} '{IMAGE_TOKEN}', expected 0 in a text-only row"
    if num_images == 1 and (found != 1 or counts[first_user] != 1):
        return f"{TAG_COUNT}: found {found} '{IMAGE_TOKEN}', expected 1 in the first user turn"
    if num_images > 1 and found != num_images:
        return f"{TAG_COUNT}: found {found} '{IMAGE_TOKEN}', expected {num_images} (one per image of the row)"
    if num_images > 1 and not counts[first_user]:
        return f"{TAG_COUNT}: the first user turn holds no '{IMAGE_TOKEN}' (the row has {num_images} images)"
    return None


def confine(root: str, rel: str) -> Path | None:
    """root/rel if it stays inside root lexically (no '..' or absolute escapes), else None. Symlinks placed
    inside the root are followed on purpose: users link dataset folders into one image root."""
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, rel))
    if full != base and not full.startswith(base + os.sep):
        return None
    return Path(full)


def load_image(ref: str | bytes, root: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes | None, str]:
    """(stored bytes, how) on success, where how is 'original' or 'png'; (None, reason) on failure."""
    from PIL import Image, UnidentifiedImageError

    name = "<embedded bytes>" if isinstance(ref, bytes) else ref
    if isinstance(ref, bytes):
        data = ref
    else:
        path = confine(root, ref)
        if path is None:
            return None, f"{ESCAPES}: '{ref}'"
        try:
            if not path.is_file():
                return None, f"{NOT_FOUND}: '{ref}'"
            data = path.read_bytes()
        except OSError as e:  # a name too long, no permission, an I/O error: this row only
            return None, f"{UNREADABLE}: '{ref}': {e.strerror or type(e).__name__}"
    if not data:
        return None, f"{UNREADABLE}: '{name}' is empty (0 bytes)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                return None, f"{TOO_LARGE}: '{name}' is {w}x{h}, over the {max_pixels}-pixel cap"
            img.load()  # decodes everything: truncated files fail here
            return _store(img, data)
    except Image.DecompressionBombError:
        return None, f"{TOO_LARGE}: '{name}' claims more pixels than Pillow allows"
    except UnidentifiedImageError:
        return None, f"{UNREADABLE}: '{name}' is not an image Pillow can identify"
    except Exception as e:  # noqa: BLE001 - Pillow raises OSError/SyntaxError/ValueError/EOFError on bad data
        return None, f"{UNREADABLE}: '{name}': {str(e).splitlines()[0] if str(e) else type(e).__name__}"


def _store(img: Any, data: bytes) -> tuple[bytes, str]:
    from PIL import ImageOps

    from vitcli.runtime.images import to_rgb

    upright = img.getexif().get(0x0112, 1) == 1
    if (
        upright
        and img.mode == "RGB"
        and (
            img.format == "JPEG" or (img.format == "PNG" and data[24:25] == b"\x08" and "transparency" not in img.info)
        )
    ):
        return data, "original"
    out = io.BytesIO()
    to_rgb(ImageOps.exif_transpose(img)).save(out, format="PNG", compress_level=3)
    return out.getvalue(), "png"


def store_image(
    ref: str | bytes, root: str, max_pixels: int, store_dir: str, root_key: str | None
) -> tuple[str | None, str, int]:
    """Verify one image and store it: (stored ref, how, file bytes), or (None, reason, 0). Copied images are
    written once by content into `store_dir` (write_image_file); with a `root_key` (--image-storage reference)
    a file under the root is referenced as '@<key>/<path under the root>' and not copied."""
    from vitcli.data.records import write_image_file

    data, how = load_image(ref, root, max_pixels)
    if data is None:
        return None, how, 0
    if root_key is not None and isinstance(ref, str):
        path = confine(root, ref)
        assert path is not None  # load_image refused escapes
        rel = path.relative_to(os.path.normpath(os.path.abspath(root))).as_posix()
        return f"@{root_key}/{rel}", "referenced", path.stat().st_size
    return write_image_file(data, store_dir), how, len(data)


def load_images(jobs: list[tuple[str | bytes, str, int, str, str | None]]) -> list[tuple[str | None, str, int]]:
    """Worker entry point: store_image over a chunk (one pickle round trip per chunk, not per image)."""
    return [store_image(*job) for job in jobs]
