"""Anything `datasets.load_dataset` reads: a Hub id (when online), a local parquet/json/jsonl/csv/arrow
file, a folder of them, or a `save_to_disk` folder. Rows map through imagefolder's column roles; an Image
column is read undecoded (bytes go straight to validation), a string image column is a path under --images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vitcli.data.sources.common import SourceSpec, split_name
from vitcli.data.sources.imagefolder import DEFAULT_ROLES, row_to_candidate
from vitcli.data.templates import Templates
from vitcli.data.validate import MALFORMED, Candidate, Rejection
from vitcli.runtime.errors import DataError
from vitcli.runtime.hub import honour_offline_env

BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".arrow": "arrow"}


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


def read_hf(spec: SourceSpec, templates: Templates) -> Iterator[Candidate | Rejection]:
    import datasets

    name = Path(spec.path).name or spec.path
    root = spec.images or str(Path(spec.path).parent if Path(spec.path).is_file() else Path(spec.path))
    for split, ds in load_any(spec).items():
        roles = {**{k: v for k, v in DEFAULT_ROLES.items() if k in ds.column_names}, **spec.columns}
        img_col = next((k for k, r in roles.items() if r == "image" and k in ds.column_names), None)
        if img_col and isinstance(ds.features[img_col], datasets.Image):
            ds = ds.cast_column(img_col, datasets.Image(decode=False))
        for i, row in enumerate(ds, start=1):
            image = image_value(row.get(img_col)) if img_col else None
            if img_col and image is None and row.get(img_col) not in (None, "", {"bytes": None, "path": None}):
                reason = f"{MALFORMED}: '{img_col}' is neither a path nor image bytes"
                yield Rejection(f"{name}[{split}]", i, reason)
                continue
            yield row_to_candidate(
                row,
                spec.columns,
                image,
                fmt="hf",
                file=f"{name}[{split}]",
                rowno=i,
                root=root,
                split=spec.split or split_name(split),
                templates=templates,
                id_prefix=f"hf-{split}-",
            )
