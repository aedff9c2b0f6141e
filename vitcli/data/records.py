"""The unified record: one row of a built dataset, whatever source it came from (see DESIGN.md §2), and the
image layout beside the rows: each distinct image stored once as DATASET/images/<sha256[:2]>/<sha256>.<ext>
(or referenced under a recorded image root), rows holding {bytes: None, path: ref} cells that
`load_built_dataset` resolves to absolute paths. Datasets built before 0.2 embed bytes in the cells."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.modeling.families import IMAGE_TOKEN  # noqa: F401 - the placeholder in string content
from vitcli.runtime.errors import DataError

TASKS = ("caption", "vqa", "conversation", "pope", "multiple-choice", "gqa")  # the last three: synthetic --tasks
ANSWER_TYPES = ("yes/no", "number", "other")
SPLITS = ("train", "validation", "test")
IMAGE_DIR = "images"  # content-addressed image files, inside the dataset directory
IMAGE_META = "images.json"  # {version, roots: {key: absolute root}, distinct, bytes}; absent: bytes embedded
IMAGE_TABLE = "images.parquet"  # one row per distinct stored image: ref, bytes (file size at build time)


@dataclass
class Record:
    """One instruction sample. `images` holds one entry per '<image>' placeholder in `messages`, in order (empty
    for text-only rows): a stored reference (str, see image_ref) or encoded image bytes (embedded)."""

    id: str
    images: list[bytes | str]
    messages: list[dict[str, str]]
    task: str
    source: str
    references: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    answer_type: str | None = None
    question_type: str | None = None

    def to_row(self) -> dict[str, Any]:
        """The dict `datasets` stores, matching `record_features()`."""
        return {
            "id": self.id,
            "images": [image_cell(b) for b in self.images],
            "messages": self.messages,
            "task": self.task,
            "references": self.references,
            "answers": self.answers,
            "answer_type": self.answer_type,
            "question_type": self.question_type,
            "source": self.source,
        }


def image_cell(image: bytes | str) -> dict[str, Any]:
    """A row's image cell: a stored reference as a path, bytes embedded (datasets built before 0.2)."""
    return {"bytes": None, "path": image} if isinstance(image, str) else {"bytes": image, "path": None}


def image_ext(data: bytes) -> str:
    """The file extension of encoded image bytes (build stores JPEG or PNG; others by their magic)."""
    for magic, ext in ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG", "png"), (b"GIF8", "gif"), (b"BM", "bmp")):
        if data.startswith(magic):
            return ext
    return "webp" if data[8:12] == b"WEBP" else "img"


def write_image_file(data: bytes, dataset_dir: str | Path) -> str:
    """Store `data` once under dataset_dir/images/ by its sha256 and return its ref ('images/ab/ab12...jpg').
    Safe across threads and processes: written to a unique temporary name, then renamed into place."""
    digest = hashlib.sha256(data).hexdigest()
    ref = f"{IMAGE_DIR}/{digest[:2]}/{digest}.{image_ext(data)}"
    path = Path(dataset_dir) / ref
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{os.getpid()}.{id(data)}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return ref


def write_image_meta(dataset_dir: Path, sizes: dict[str, int], roots: dict[str, str]) -> dict[str, int]:
    """images.parquet (ref, bytes per distinct image) + images.json; returns {distinct, bytes} for the report."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    refs = sorted(sizes)
    table = pa.table({"ref": pa.array(refs, pa.string()), "bytes": pa.array([sizes[r] for r in refs], pa.int64())})
    pq.write_table(table, str(dataset_dir / IMAGE_TABLE))
    counts = {"distinct": len(refs), "bytes": sum(sizes.values())}
    meta = {"version": 1, "roots": roots, **counts}
    (dataset_dir / IMAGE_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return counts


def stored_features():
    """record_features() as written to disk: `images` cells as plain {bytes, path} structs (the same Arrow type),
    because a stored ref is relative to the dataset and only load_built_dataset resolves it (datasets' Image
    feature would stat the relative path while saving)."""
    from datasets import Features, List, Value

    features = record_features()
    return Features({**features, "images": List({"bytes": Value("binary"), "path": Value("string")})})


def record_features():
    """The `datasets.Features` of a loaded built dataset (imported lazily: `datasets` is heavy)."""
    from datasets import Features, Image, List, Value

    return Features(
        {
            "id": Value("string"),
            "images": List(Image()),
            "messages": List({"role": Value("string"), "content": Value("string")}),
            "task": Value("string"),
            "references": List(Value("string")),
            "answers": List(Value("string")),
            "answer_type": Value("string"),
            "question_type": Value("string"),
            "source": Value("string"),
        }
    )


def undecoded_images(ds: Any) -> Any:
    """`ds` with its `images` column left as {bytes, path} cells: no decoding until a consumer opens one. Cells
    that refer to a file get its bytes as rows are read (a format transform: per item, in the reading process),
    so every consumer sees the {bytes, path} cells it always did; raw refs: `ds.with_format("arrow")`."""
    from datasets import Image, List

    return ds.cast_column("images", List(Image(decode=False))).with_transform(read_image_files)


def read_image_files(batch: dict[str, list]) -> dict[str, list]:
    """Fill the bytes of file-backed image cells; a file gone since the build is a DataError naming row and file."""
    if "images" not in batch:
        return batch
    ids = batch.get("id") or [None] * len(batch["images"])
    batch["images"] = [
        [cell if cell["bytes"] is not None or not cell["path"] else read_cell(cell, rid) for cell in cells]
        for cells, rid in zip(batch["images"], ids, strict=True)
    ]
    return batch


def read_cell(cell: dict[str, Any], row_id: str | None) -> dict[str, Any]:
    path = cell["path"]
    try:
        return {"bytes": Path(path).read_bytes(), "path": path}
    except OSError as e:
        where = f" of row '{row_id}'" if row_id is not None else ""
        raise DataError(
            f"image '{path}'{where} cannot be read ({e.strerror or type(e).__name__}); it was there when the "
            "dataset was built",
            "restore the file (a referenced image root must stay in place), or rebuild the dataset",
        ) from None


def message_texts(ds: Any) -> list[str]:
    """The distinct message contents of `ds`, read from the Arrow column (no Python row objects)."""
    import pyarrow.compute as pc

    column = ds.with_format("arrow")["messages"]
    contents = pc.list_flatten(column).combine_chunks().field("content")
    return pc.unique(contents).drop_null().to_pylist()


def image_counts(ds: Any) -> list[int]:
    """Images per row, read from Arrow list lengths (no image bytes are loaded)."""
    import pyarrow.compute as pc

    return pc.list_value_length(ds.with_format("arrow")["images"]).fill_null(0).to_pylist()


def check_single_image(ds: Any, what: str = "evaluated") -> None:
    """A DataError naming the first row with several images: generation takes one image per question."""
    multi = [i for i, n in enumerate(image_counts(ds)) if n > 1]
    if multi:
        first = ds.select_columns(["id"])[multi[0]]["id"]
        raise DataError(
            f"{len(multi)} of {len(ds)} rows hold several images (first: '{first}'): "
            f"multi-image rows cannot be {what} yet",
            "generation takes one image per question: use a split of single-image rows (or filter on the "
            "length of the 'images' column)",
        )


def prompt_of(row: dict[str, Any]) -> str:
    """The first user turn: what the model is asked about the image."""
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


def target_of(row: dict[str, Any]) -> str:
    """The first assistant turn: the reference answer the model is trained to produce."""
    return next(m["content"] for m in row["messages"] if m["role"] == "assistant")
