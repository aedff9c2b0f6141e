"""build_dataset(cfg) -> BuildReport: read sources, validate, template, save a DatasetDict + its images (each
stored once, or referenced under the image root) + build_report.json; load_built_dataset opens one with its
image refs resolved and checked. Readers live in data/sources/, checks in data/validate.py, the streaming
middle in data/pipeline.py; this module owns the whole, not formats."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli import __version__
from vitcli.data.records import (
    IMAGE_DIR,
    IMAGE_META,
    IMAGE_TABLE,
    Record,
    record_features,
    stored_features,
    write_image_file,
    write_image_meta,
)
from vitcli.data.sources.common import SourceSpec
from vitcli.data.sources.synthetic import SyntheticConfig, generate_synthetic
from vitcli.data.validate import DEFAULT_MAX_PIXELS, Rejection
from vitcli.runtime.errors import ConfigError, UsageError
from vitcli.runtime.io import atomic_dir, check_output_free, write_json

__all__ = [
    "BuildConfig",
    "BuildReport",
    "Rejection",
    "SourceSpec",
    "build_dataset",
    "load_built_dataset",
    "save_splits",
    "read_build_report",
]
SOURCE_KINDS = ("synthetic", "llava", "messages", "coco", "vqav2", "imagefolder", "hf", "mix")
EXPORT_FORMATS = ("llava-json", "messages-jsonl", "parquet")
IMAGE_STORAGE = ("copy", "reference")
Progress = Callable[..., None]


@dataclass
class BuildConfig:
    source: str = "synthetic"  # one of SOURCE_KINDS; non-synthetic kinds read `sources` (mix: the `mix` recipe)
    out: str = ""
    overwrite: bool = False
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    sources: list[SourceSpec] = field(default_factory=list)
    mix: str | None = None  # recipe YAML/JSON: sources with per-source ratio / max_samples
    val_ratio: float = 0.0  # carved (seeded, exact counts) from the train rows
    test_ratio: float = 0.0
    seed: int = 0
    strict: bool = False  # stop at the first bad row
    num_proc: int = 1  # processes decoding/validating images
    max_samples: int | None = None  # kept rows per source, for quick trials
    max_pixels: int = DEFAULT_MAX_PIXELS
    templates: str | None = None
    caption_style: str = "brief"
    export: str | None = None  # one of EXPORT_FORMATS
    export_dir: str | None = None
    chunk_size: int = 64  # rows per parallel work unit; bounds memory with two chunks in flight
    image_storage: str = "copy"  # copy: each distinct image stored once in the dataset; reference: paths only


@dataclass
class BuildReport:
    out: str
    source: str
    counts: dict[str, int]  # rows kept per split
    tasks: dict[str, dict[str, int]]  # split -> task -> rows
    rejected: list[Rejection] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)  # per source: read / kept / rejected / sampled out
    images: dict[str, int] = field(default_factory=dict)  # stored as original bytes / re-encoded png / text-only
    export: dict[str, Any] = field(default_factory=dict)

    @property
    def num_kept(self) -> int:
        return sum(self.counts.values())

    def rejected_by_reason(self) -> dict[str, int]:
        from collections import Counter

        return dict(sorted(Counter(r.reason.split(":")[0] for r in self.rejected).items()))

    def to_json(self) -> dict[str, Any]:
        out = {
            "source": self.source,
            "counts": self.counts,
            "tasks": self.tasks,
            "num_kept": self.num_kept,
            "num_rejected": len(self.rejected),
            "rejected_by_reason": self.rejected_by_reason(),
            "rejected": [dataclasses.asdict(r) for r in self.rejected],
            "config": self.config,
            "vitcli_version": __version__,
        }
        out.update({k: v for k, v in (("sources", self.sources), ("images", self.images)) if v})
        return out


def save_splits(splits: dict[str, list[Record]], out: Path) -> dict[str, int]:
    """Write a DatasetDict whose rows refer to images stored once under out/images/. Fingerprints hash content:
    same input, same bytes. Returns the image counts of write_image_meta."""
    import hashlib

    from datasets import Dataset, DatasetDict

    features = stored_features()
    dd, sizes = {}, {}
    for name, records in splits.items():
        digest = hashlib.sha256(name.encode())
        rows = []
        for r in records:
            digest.update(r.id.encode())
            refs = []
            for image in r.images:
                if isinstance(image, bytes):
                    digest.update(image)
                    ref = write_image_file(image, out)
                    sizes[ref] = len(image)
                    image = ref
                refs.append(image)
            rows.append(dataclasses.replace(r, images=refs).to_row())
        if not rows:
            continue  # an empty split (--num-val 0) is left out: datasets 5.x cannot reload an empty Arrow file
        ds = Dataset.from_list(rows, features=features)
        ds._fingerprint = digest.hexdigest()[:16]
        dd[name] = ds
    DatasetDict(dd).save_to_disk(str(out))
    return write_image_meta(out, sizes, {})


def check_config(cfg: BuildConfig) -> None:
    if not cfg.out:
        raise ConfigError("no output directory given", "pass --out DIR")
    if cfg.source not in SOURCE_KINDS:
        raise ConfigError(f"unknown source '{cfg.source}'", f"use one of: {', '.join(SOURCE_KINDS)}")
    if not (0 <= cfg.val_ratio < 1 and 0 <= cfg.test_ratio < 1 and cfg.val_ratio + cfg.test_ratio < 1):
        raise ConfigError("--val-ratio and --test-ratio must be in [0, 1) and sum below 1", "e.g. --val-ratio 0.05")
    if cfg.num_proc < 1:
        raise ConfigError("--num-proc must be at least 1", "pass --num-proc 1 for a single process")
    if cfg.export and cfg.export not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format '{cfg.export}'", f"use one of: {', '.join(EXPORT_FORMATS)}")
    if cfg.image_storage not in IMAGE_STORAGE:
        raise UsageError(f"unknown --image-storage '{cfg.image_storage}'", f"use one of: {', '.join(IMAGE_STORAGE)}")
    if bool(cfg.export) != bool(cfg.export_dir):
        raise ConfigError("--export needs both a format and a directory", "e.g. --export llava-json exported/")


def build_synthetic(cfg: BuildConfig) -> BuildReport:
    from collections import Counter

    splits = generate_synthetic(cfg.synthetic)
    report = BuildReport(
        out=str(cfg.out),
        source=cfg.source,
        counts={k: len(v) for k, v in splits.items()},
        tasks={k: dict(sorted(Counter(r.task for r in v).items())) for k, v in splits.items()},
        config={"source": cfg.source, "synthetic": dataclasses.asdict(cfg.synthetic)},
    )
    with atomic_dir(Path(cfg.out), overwrite=cfg.overwrite) as tmp:
        report.images = save_splits(splits, tmp)
        write_json(tmp / "build_report.json", report.to_json())  # no paths or times: same seed, same bytes
    return report


def build_dataset(cfg: BuildConfig, progress: Progress | None = None) -> BuildReport:
    """Read -> validate -> save. `progress(advance=n, info=str)` is called as rows are processed."""
    check_config(cfg)
    if cfg.source == "synthetic":
        return build_synthetic(cfg)
    from vitcli.data.mix import load_mix
    from vitcli.data.pipeline import run_pipeline, save_dataset_dict
    from vitcli.data.templates import load_templates

    specs = load_mix(cfg.mix) if cfg.source == "mix" else cfg.sources
    if not specs:
        raise ConfigError("no sources given", "pass a source file, or --mix recipe.yaml")
    templates = load_templates(cfg.templates, cfg.seed, cfg.caption_style)
    out = Path(cfg.out)
    check_output_free(out, cfg.overwrite)  # before the expensive part
    for p in [s.path for s in specs] + [s.images for s in specs if s.images]:
        if p and out.resolve() in (Path(p).resolve(), *Path(p).resolve().parents):
            raise ConfigError(
                f"--out '{out}' holds the source '{p}'; --overwrite would delete it",
                "choose an output directory outside the source data",
            )
    if cfg.export_dir:
        check_output_free(Path(cfg.export_dir), cfg.overwrite, "export directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work-", dir=out.parent))
    try:
        result = run_pipeline(specs, cfg, templates, work, progress)
        report = BuildReport(
            out=str(out),
            source=cfg.source,
            counts=result.counts,
            tasks=result.tasks,
            rejected=result.rejected,
            config=report_config(cfg, specs),
            sources=result.sources,
            images=result.images,
        )
        with atomic_dir(out, overwrite=cfg.overwrite) as tmp:
            save_dataset_dict(result, tmp)
            report.images = result.images  # now with the distinct images and their bytes
            write_json(tmp / "build_report.json", report.to_json())  # no absolute paths or times
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if cfg.export:
        from vitcli.data.export import export_dataset

        report.export = export_dataset(load_built_dataset(out), cfg.export, Path(cfg.export_dir), cfg.overwrite)
    return report


def report_config(cfg: BuildConfig, specs: list[SourceSpec]) -> dict[str, Any]:
    """The settings that shape the output, with file names only: no dependence on where it ran."""

    def name(p: str | None) -> str | None:
        return Path(p).name if p else None

    srcs = [
        {
            k: v
            for k, v in {
                **dataclasses.asdict(s),
                "path": name(s.path),
                "images": name(s.images),
                "annotations": name(s.annotations),
            }.items()
            if v not in (None, {}, False)
        }
        for s in specs
    ]
    return {
        "source": cfg.source,
        "sources": srcs,
        "mix": name(cfg.mix),
        "val_ratio": cfg.val_ratio,
        "test_ratio": cfg.test_ratio,
        "seed": cfg.seed,
        "strict": cfg.strict,
        "max_samples": cfg.max_samples,
        "max_pixels": cfg.max_pixels,
        "templates": name(cfg.templates),
        "caption_style": cfg.caption_style,
        "image_storage": cfg.image_storage,
    }


def load_built_dataset(path: str | Path):
    """Open a dataset written by build_dataset, with a clear error when the folder is not one. Datasets built
    before rows held several images (one `image` column) are converted on load (see upgrade_image_column)."""
    from datasets import load_from_disk

    from vitcli.runtime.errors import DataError

    p = Path(path)
    if not p.is_dir():
        raise DataError(
            f"dataset directory '{p}' not found", "build one with `vitcli build-dataset synthetic --out DIR`"
        )
    if not (p / "dataset_dict.json").is_file():
        raise DataError(
            f"'{p}' is not a dataset built by vitcli (no dataset_dict.json)",
            "pass the --out folder of `vitcli build-dataset`",
        )
    dd = load_from_disk(str(p))
    dd = type(dd)({name: upgrade_image_column(ds) for name, ds in dd.items()})
    if not (p / IMAGE_META).is_file():
        return dd  # built before 0.2: image bytes embedded in the rows
    meta = json.loads((p / IMAGE_META).read_text(encoding="utf-8"))
    targets = image_targets(p, meta.get("roots", {}))
    dd = type(dd)({name: resolve_images(ds, targets) for name, ds in dd.items()})
    check_image_files(dd, p, targets)
    return dd


def image_targets(dataset_dir: Path, roots: dict[str, str]) -> dict[str, str]:
    """Stored ref prefix -> absolute directory: 'images/' in the dataset, '@<key>/' under a recorded root."""
    return {f"{IMAGE_DIR}/": f"{dataset_dir.resolve()}/{IMAGE_DIR}/", **{f"@{k}/": f"{r}/" for k, r in roots.items()}}


def resolve_ref(ref: str, targets: dict[str, str]) -> str:
    prefix = next((p for p in targets if ref.startswith(p)), None)
    return targets[prefix] + ref[len(prefix) :] if prefix else ref


def resolve_images(ds: Any, targets: dict[str, str]) -> Any:
    """`ds` with every stored ref in its `images` cells replaced by an absolute path: one vectorised pass over
    the Arrow column (the other columns stay memory-mapped); cells holding bytes are left as they are."""
    import hashlib

    import pyarrow as pa
    import pyarrow.compute as pc

    def resolve(chunk: Any) -> Any:
        values = chunk.values
        paths, data = values.field("path"), values.field("bytes")
        for prefix, target in targets.items():
            hit = pc.fill_null(pc.and_(pc.starts_with(paths, prefix), pc.is_null(data)), False)
            moved = pc.binary_join_element_wise(target, pc.utf8_slice_codeunits(paths, len(prefix)), "")
            paths = pc.if_else(hit, moved, paths)
        cells = pa.StructArray.from_arrays([data, paths], names=["bytes", "path"])
        return pa.ListArray.from_arrays(chunk.offsets, cells, mask=chunk.is_null())

    column = ds.data.column("images")
    resolved = pa.chunked_array([resolve(c) for c in column.chunks], type=column.type)
    order = ds.column_names
    fingerprint = hashlib.sha256(f"{ds._fingerprint}:{sorted(targets.items())}".encode()).hexdigest()[:16]
    out = ds.remove_columns("images").add_column(
        "images", resolved, feature=record_features()["images"], new_fingerprint=fingerprint
    )
    return out.select_columns(order)


def check_image_files(dd: Any, dataset_dir: Path, targets: dict[str, str]) -> None:
    """Every stored image still there with its build-time size (one stat per distinct image), else a DataError
    naming a row and the file: a missing or changed file is found at load, not mid-training."""
    import pyarrow.parquet as pq

    from vitcli.runtime.errors import DataError

    table = pq.read_table(str(dataset_dir / IMAGE_TABLE)).to_pydict()
    bad: dict[str, str] = {}
    for ref, size in zip(table["ref"], table["bytes"], strict=True):
        path = resolve_ref(ref, targets)
        try:
            now = os.stat(path).st_size
        except OSError:
            bad[path] = "missing"
            continue
        if now != size:
            bad[path] = f"changed ({now} bytes, {size} at build time)"
    if not bad:
        return
    path, why = next(iter(bad.items()))
    where = first_row_with(dd, set(bad))
    referenced = not path.startswith(targets[f"{IMAGE_DIR}/"])
    raise DataError(
        f"image '{path}'{where} is {why}; {len(bad)} of {len(table['ref'])} images of '{dataset_dir}' are "
        "missing or changed since it was built",
        "restore the files under the image root (or fix its path in "
        f"{dataset_dir / IMAGE_META} if the images moved), or rebuild the dataset"
        if referenced
        else f"the dataset's {IMAGE_DIR}/ folder was altered: rebuild the dataset",
    )


def first_row_with(dd: Any, paths: set[str]) -> str:
    """' (row ID of split S)' for the first row referring to one of `paths`, or ''."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for split, ds in dd.items():
        column = ds.data.column("images").combine_chunks()
        hits = pc.is_in(pc.list_flatten(column).field("path"), value_set=pa.array(sorted(paths), pa.string()))
        index = pc.index(pc.fill_null(hits, False), True).as_py()
        if index >= 0:
            row = pc.list_parent_indices(column)[index].as_py()
            return f" (row '{ds.select_columns(['id'])[row]['id']}' of split '{split}')"
    return ""


def upgrade_image_column(ds: Any) -> Any:
    """The old single-image layout -> `images` (image -> [image], None -> []). Done once per split by
    `datasets.map`, whose cache file beside the dataset makes later loads free; rebuilding avoids it."""
    from datasets import Features, Image

    if "image" not in ds.column_names or "images" in ds.column_names:
        return ds
    order = ["images" if k == "image" else k for k in ds.column_names]
    kept = {k: v for k, v in ds.features.items() if k != "image"}

    def to_list(batch: dict[str, list]) -> dict[str, list]:
        return {"images": [[c] if c and (c.get("bytes") or c.get("path")) else [] for c in batch["image"]]}

    out = ds.cast_column("image", Image(decode=False)).map(
        to_list,
        batched=True,
        batch_size=256,
        remove_columns=["image"],
        features=Features({**kept, "images": record_features()["images"]}),
        desc="upgrading the image column",
    )
    return out.select_columns(order)


def read_build_report(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / "build_report.json").read_text(encoding="utf-8"))
