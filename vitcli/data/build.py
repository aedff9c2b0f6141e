"""build_dataset(cfg) -> BuildReport: read a source, validate, save a self-contained DatasetDict + build_report.json.
Readers live in data/sources/; this module owns the saving and the report, not the formats."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli import __version__
from vitcli.data.records import Record, record_features
from vitcli.data.sources.synthetic import SyntheticConfig, generate_synthetic
from vitcli.runtime.errors import ConfigError
from vitcli.runtime.io import atomic_dir, write_json


@dataclass
class BuildConfig:
    source: str = "synthetic"
    out: str = ""
    overwrite: bool = False
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class Rejection:
    source: str  # file (or generator) the row came from
    row: int | str
    reason: str


@dataclass
class BuildReport:
    out: str
    source: str
    counts: dict[str, int]  # rows kept per split
    tasks: dict[str, dict[str, int]]  # split -> task -> rows
    rejected: list[Rejection] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def num_kept(self) -> int:
        return sum(self.counts.values())

    def rejected_by_reason(self) -> dict[str, int]:
        return dict(Counter(r.reason.split(":")[0] for r in self.rejected))

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "counts": self.counts, "tasks": self.tasks,
                "num_kept": self.num_kept, "num_rejected": len(self.rejected),
                "rejected_by_reason": self.rejected_by_reason(),
                "rejected": [dataclasses.asdict(r) for r in self.rejected],
                "config": self.config, "vitcli_version": __version__}


def save_splits(splits: dict[str, list[Record]], out: Path) -> None:
    """Write a DatasetDict with embedded image bytes. Fingerprints are content hashes so bytes are reproducible."""
    import hashlib

    from datasets import Dataset, DatasetDict

    features = record_features()
    dd = {}
    for name, records in splits.items():
        ds = Dataset.from_list([r.to_row() for r in records], features=features)
        digest = hashlib.sha256(name.encode())
        for r in records:
            digest.update(r.id.encode())
            digest.update(r.image or b"")
        ds._fingerprint = digest.hexdigest()[:16]
        dd[name] = ds
    DatasetDict(dd).save_to_disk(str(out))


def build_dataset(cfg: BuildConfig) -> BuildReport:
    if not cfg.out:
        raise ConfigError("no output directory given", "pass --out DIR")
    if cfg.source != "synthetic":
        raise ConfigError(f"unknown source '{cfg.source}'", "use one of: synthetic")
    splits = generate_synthetic(cfg.synthetic)
    report = BuildReport(
        out=str(cfg.out), source=cfg.source,
        counts={k: len(v) for k, v in splits.items()},
        tasks={k: dict(sorted(Counter(r.task for r in v).items())) for k, v in splits.items()},
        config={"source": cfg.source, "synthetic": dataclasses.asdict(cfg.synthetic)},
    )
    with atomic_dir(Path(cfg.out), overwrite=cfg.overwrite) as tmp:
        save_splits(splits, tmp)
        write_json(tmp / "build_report.json", report.to_json())  # no paths or times: same seed, same bytes
    return report


def load_built_dataset(path: str | Path):
    """Open a dataset written by build_dataset, with a clear error when the folder is not one."""
    from datasets import load_from_disk

    from vitcli.runtime.errors import DataError

    p = Path(path)
    if not p.is_dir():
        raise DataError(f"dataset directory '{p}' not found", "build one with `vitcli build-dataset synthetic --out DIR`")
    if not (p / "dataset_dict.json").is_file():
        raise DataError(f"'{p}' is not a dataset built by vitcli (no dataset_dict.json)",
                        "pass the --out folder of `vitcli build-dataset`")
    return load_from_disk(str(p))


def read_build_report(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / "build_report.json").read_text(encoding="utf-8"))
