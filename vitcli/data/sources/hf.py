"""Anything `datasets.load_dataset` reads: a Hub id (when online), a local parquet/json/jsonl/csv/arrow
file, a folder of them, or a `save_to_disk` folder. Rows map through imagefolder's column roles; an Image
column is read undecoded (bytes go straight to validation), a string image column is a path under --images.
TRL's VLM layout (a `messages` column of typed parts + an `images` list of images, e.g.
HuggingFaceH4/llava-instruct-mix-vsft) maps by name: one image per {"type": "image"} part, in order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vitcli.data.records import IMAGE_META
from vitcli.data.sources.common import SourceSpec, split_name
from vitcli.data.sources.imagefolder import image_column, row_to_candidate
from vitcli.data.templates import Templates
from vitcli.data.validate import MALFORMED, Candidate, Rejection
from vitcli.runtime.errors import DataError
from vitcli.runtime.hub import honour_offline_env

BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".arrow": "arrow"}


def is_built(path: Path) -> bool:
    """A folder written by `vitcli build-dataset` (images stored once, rows hold refs)."""
    return path.is_dir() and (path / IMAGE_META).is_file()


def load_any(spec: SourceSpec) -> dict[str, Any]:
    """{split: Dataset} for a local file/folder or a Hub id."""
    import datasets

    honour_offline_env()
    p = Path(spec.path)
    try:
        if p.is_file():
            if p.suffix.lower() not in BUILDERS:
                raise DataError(f"cannot read '{p.name}' with datasets", f"use one of: {', '.join(BUILDERS)}")
            dd = datasets.load_dataset(BUILDERS[p.suffix.lower()], data_files=str(p), split=spec.hf_split)
        elif is_built(p):  # a vitcli dataset: rows refer to its stored images
            from vitcli.data.build import load_built_dataset

            dd = load_built_dataset(p)
            dd = dd[spec.hf_split] if spec.hf_split else dd
        elif p.is_dir() and ((p / "dataset_dict.json").is_file() or (p / "state.json").is_file()):
            dd = datasets.load_from_disk(str(p))
            dd = dd[spec.hf_split] if spec.hf_split else dd
        else:
            dd = datasets.load_dataset(spec.path, spec.hf_config, split=spec.hf_split)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - datasets raises many types (FileNotFound, ConnectionError, ValueError)
        raise DataError(
            f"cannot load '{spec.path}' with datasets: {str(e).splitlines()[0] if str(e) else e!r}",
            "check the name/path; Hub ids need network access (HF_HUB_OFFLINE unset)",
        ) from None
    if isinstance(dd, datasets.Dataset):
        return {spec.hf_split or "train": dd}
    return dict(dd)


def image_value(value: Any) -> str | bytes | None:
    """A path or encoded bytes from an image cell ({bytes, path} struct, string or bytes), else None."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    return value if isinstance(value, (str, bytes)) and value else None


def undecoded(ds: Any, col: str) -> Any:
    """`ds` with an Image column, or a list of Images, read as {bytes, path} cells (no decode, no re-encode)."""
    import datasets

    feature = ds.features[col]
    if isinstance(feature, datasets.Image):
        return ds.cast_column(col, datasets.Image(decode=False))
    if isinstance(getattr(feature, "feature", None), datasets.Image):  # List / LargeList of Image
        return ds.cast_column(col, type(feature)(datasets.Image(decode=False)))
    return ds


def cell_images(value: Any, col: str) -> list[str | bytes] | str:
    """A row's images from its image cell (one image, a list of them, or empty), or why they are unusable."""
    cells = value if isinstance(value, list) else [] if value in (None, "", {"bytes": None, "path": None}) else [value]
    images = [image_value(c) for c in cells]
    bad = next((k for k, x in enumerate(images) if x is None), None)
    if bad is not None:
        where = f"'{col}' entry {bad}" if isinstance(value, list) else f"'{col}'"
        return f"{MALFORMED}: {where} is neither a path nor image bytes"
    return images


def decoded_rows(ds: Any, where: str) -> Iterator[dict[str, Any]]:
    """Rows of `ds`; a column datasets cannot turn into Python (duplicate or empty struct field names) is a
    DataError naming the file, not a pyarrow traceback."""
    rows = iter(ds)
    while True:
        try:
            yield next(rows)
        except StopIteration:
            return
        except (ValueError, KeyError, TypeError) as e:
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise DataError(
                f"datasets cannot decode the rows of '{where}': {first}",
                "check its columns (nested fields need distinct, non-empty names)",
            ) from None


def read_hf(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    name = Path(spec.path).name or spec.path
    root = spec.images or str(Path(spec.path).parent if Path(spec.path).is_file() else Path(spec.path))
    built = is_built(Path(spec.path))  # its refs are resolved and checked by load_built_dataset
    for split, ds in load_any(spec).items():
        img_col = image_column(ds.column_names, spec.columns)
        ds = undecoded(ds, img_col) if img_col else ds
        for i, row in enumerate(decoded_rows(ds, f"{name}[{split}]"), start=1):
            images = cell_images(row.get(img_col), img_col) if img_col else []
            if isinstance(images, str):
                yield Rejection(f"{name}[{split}]", i, images)
                continue
            if built:  # a referenced image may live outside the dataset folder: pass its bytes, not its path
                images = [Path(x).read_bytes() if isinstance(x, str) else x for x in images]
            yield row_to_candidate(
                row,
                spec.columns,
                images,
                fmt="hf",
                file=f"{name}[{split}]",
                rowno=i,
                root=root,
                split=spec.split or split_name(split),
                templates=templates,
                id_prefix=f"hf-{split}-",
            )
