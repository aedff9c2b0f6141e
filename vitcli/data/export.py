"""Export a built dataset to formats other trainers read, one file per split plus a shared images/ folder
(files named by content hash, so an image shared by many rows is written once):
  llava-json      {split}.json: [{"id", "image", "conversations": [{"from": human|gpt|system, "value"}]}],
                  "image" a path for one image, a list of paths for several (LLaVA-OneVision), absent for none
  messages-jsonl  {split}.jsonl: {"id", "messages": [{"role", "content": str with <image>}], "images": [path, ...]}
                  + dataset_info.json for LLaMA-Factory (sharegpt formatting)
  parquet         {split}.parquet: TRL form, "images": [Image], "messages" in typed parts, + our columns"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vitcli.data.records import IMAGE_TOKEN, image_ext, undecoded_images
from vitcli.runtime.errors import DataError
from vitcli.runtime.io import atomic_dir

TO_FROM = {"user": "human", "assistant": "gpt", "system": "system"}


def cell_bytes(cell: dict[str, Any], row_id: str) -> bytes:
    """The encoded image of a row's cell: its embedded bytes, or the file its path names."""
    if cell["bytes"] is not None:
        return cell["bytes"]
    try:
        return Path(cell["path"]).read_bytes()
    except OSError as e:
        raise DataError(
            f"image '{cell['path']}' of row '{row_id}' cannot be read ({e.strerror or type(e).__name__})",
            "restore the file, or rebuild the dataset",
        ) from None


def image_file(data: bytes, images: Path, suffix: str = "") -> str:
    """Write `data` once into images/ (named by content hash); its path relative to the export folder."""
    ext = suffix.lstrip(".").lower() or image_ext(data)
    name = f"images/{hashlib.sha256(data).hexdigest()[:20]}.{ext}"
    if not (images.parent / name).exists():
        (images.parent / name).write_bytes(data)
    return name


def typed_parts(content: str) -> list[dict[str, Any]]:
    """'<image>\\nWhat?' -> [{'type': 'image'}, {'type': 'text', 'text': 'What?'}] (trimmed)."""
    parts: list[dict[str, Any]] = []
    for i, piece in enumerate(content.split(IMAGE_TOKEN)):
        if i:
            parts.append({"type": "image", "text": None})
        if piece.strip():
            parts.append({"type": "text", "text": piece.strip("\n")})
    return parts


def rows(ds: Any, tmp: Path) -> Any:
    """Rows with image bytes written to tmp/images/ and replaced by their relative paths (streaming)."""
    for row in undecoded_images(ds):
        row["images"] = [
            image_file(cell_bytes(img, row["id"]), tmp / "images", Path(img["path"] or "").suffix)
            for img in row["images"]
        ]
        yield row


def export_dataset(dd: Any, fmt: str, out: Path, overwrite: bool = False) -> dict[str, Any]:
    """Write `dd` (a built DatasetDict) as `fmt` into `out` atomically; returns {format, files, rows}."""
    files: dict[str, int] = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "images").mkdir()
        for split, ds in dd.items():
            if fmt == "llava-json":
                files[f"{split}.json"] = write_llava(ds, tmp, tmp / f"{split}.json")
            elif fmt == "messages-jsonl":
                files[f"{split}.jsonl"] = write_messages(ds, tmp, tmp / f"{split}.jsonl")
            else:
                files[f"{split}.parquet"] = write_parquet(ds, tmp / f"{split}.parquet")
        if fmt == "messages-jsonl":
            info = {
                f"vitcli_{s.split('.')[0]}": {
                    "file_name": s,
                    "formatting": "sharegpt",
                    "columns": {"messages": "messages", "images": "images"},
                    "tags": {
                        "role_tag": "role",
                        "content_tag": "content",
                        "user_tag": "user",
                        "assistant_tag": "assistant",
                        "system_tag": "system",
                    },
                }
                for s in files
            }
            (tmp / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return {"format": fmt, "dir": str(out), "files": files}


def write_llava(ds: Any, tmp: Path, path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("[")
        for row in rows(ds, tmp):
            item = {
                "id": row["id"],
                **({"image": row["images"][0] if len(row["images"]) == 1 else row["images"]} if row["images"] else {}),
                "conversations": [{"from": TO_FROM[m["role"]], "value": m["content"]} for m in row["messages"]],
            }
            f.write(("\n" if n == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
            n += 1
        f.write("\n]\n")
    return n


def write_messages(ds: Any, tmp: Path, path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows(ds, tmp):
            item = {
                "id": row["id"],
                "messages": row["messages"],
                "images": row["images"],
            }
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_parquet(ds: Any, path: Path) -> int:
    """TRL's vision SFT form, in batches so memory stays bounded; HF features ride in the schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Features, Image, List, Value

    part = {"type": Value("string"), "text": Value("string")}
    feats = Features(
        {
            "id": Value("string"),
            "images": List(Image()),
            "messages": List({"role": Value("string"), "content": List(part)}),
            **{k: v for k, v in ds.features.items() if k not in ("id", "images", "messages")},
        }
    )
    with pq.ParquetWriter(str(path), feats.arrow_schema) as writer:
        for batch in undecoded_images(ds).iter(batch_size=256):
            batch["images"] = [  # embedded: a parquet file stands alone
                [{"bytes": cell_bytes(c, rid), "path": None} for c in cells]
                for cells, rid in zip(batch["images"], batch["id"], strict=True)
            ]
            batch["messages"] = [
                [{"role": m["role"], "content": typed_parts(m["content"])} for m in msgs] for msgs in batch["messages"]
            ]
            writer.write_table(pa.Table.from_pydict(feats.encode_batch(batch), schema=feats.arrow_schema))
    return len(ds)
