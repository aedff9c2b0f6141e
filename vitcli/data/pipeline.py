"""The streaming middle of build_dataset: reader items -> sampling + text checks (main process) -> image
decode/validate in chunks (a process pool, two chunks in flight) -> one Arrow file per split on disk.
Memory holds at most two chunks of images; every row that is not kept is counted or reported."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import itertools
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.data.records import IMAGE_DIR, SPLITS, Record, stored_features, write_image_meta
from vitcli.data.sources.common import SourceSpec
from vitcli.data.templates import Templates
from vitcli.data.validate import DUPLICATE_ID, MALFORMED, Candidate, Rejection, check_text, load_images
from vitcli.runtime.errors import ConfigError, DataError

READERS = {
    "llava": "llava:read_llava",
    "messages": "messages:read_messages",
    "coco": "coco:read_coco",
    "vqav2": "vqav2:read_vqav2",
    "imagefolder": "imagefolder:read_imagefolder",
    "hf": "hf:read_hf",
}
Item = Candidate | Rejection
SPLIT_NAME = re.compile(r"\w+(\.\w+)*")  # what datasets accepts as a split name


@dataclass
class PipelineResult:
    dataset_dict: Any
    counts: dict[str, int]
    tasks: dict[str, dict[str, int]]
    rejected: list[Rejection]
    sources: list[dict[str, Any]]
    images: dict[str, int]
    files: dict[str, Path] = field(default_factory=dict)  # split -> its Arrow file, when not carved
    store_dir: Path | None = None  # holds images/ (copied images) once the build is done
    image_sizes: dict[str, int] = field(default_factory=dict)  # stored ref -> bytes, images kept rows use
    roots: dict[str, str] = field(default_factory=dict)  # key -> absolute image root (reference mode)


class SplitWriter:
    """Streams rows of one split into an Arrow file (100 rows per pyarrow batch: rows are plain Python values
    of the stored schema, checked by check_text, so no per-row feature encoding is needed) and hashes them for
    a reproducible fingerprint."""

    def __init__(self, path: Path, features: Any) -> None:
        from datasets.arrow_writer import ArrowWriter

        self.path, self.schema = path, features.arrow_schema
        self.writer = ArrowWriter(features=features, path=str(path), writer_batch_size=100)
        self.digest, self.n, self.tasks = hashlib.sha256(), 0, Counter()
        self.rows: list[dict[str, Any]] = []

    def add(self, rec: Record) -> None:
        """`rec.images` holds stored refs (content-addressed when copied: the digest covers the content)."""
        self.rows.append(rec.to_row())
        if len(self.rows) >= 100:
            self.flush()
        self.digest.update(rec.id.encode() + b"\0" + "\0".join(map(str, rec.images)).encode() + b"\1")
        self.n += 1
        self.tasks[rec.task] += 1

    def flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> Any:
        from datasets import Dataset

        self.flush()
        self.writer.finalize()
        self.writer.close()
        return Dataset.from_file(str(self.path))


def get_reader(kind: str) -> Callable[[SourceSpec, Templates], Iterator[Item]]:
    if kind not in READERS:
        raise ConfigError(f"unknown source kind '{kind}'", f"use one of: {', '.join(READERS)}")
    module, fn = READERS[kind].split(":")
    return getattr(importlib.import_module(f"vitcli.data.sources.{module}"), fn)


def unit_hash(*parts: Any) -> float:
    h = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def prefilter(
    items: Iterator[Item], spec: SourceSpec, index: int, seed: int, seen: set[str], stats: dict[str, Any]
) -> Iterator[Item]:
    """Mix sampling (hash of seed, source, id: order-free), then unique ids and text checks, in order."""
    whole, frac = int(spec.ratio), spec.ratio - int(spec.ratio)
    for item in items:
        stats["read"] += 1
        if isinstance(item, Rejection):
            yield item
            continue
        copies = whole + (1 if frac and unit_hash(seed, index, item.record.id) < frac else 0)
        stats["sampled_out"] += copies == 0
        for k in range(copies):
            c = (
                item
                if k == 0
                else dataclasses.replace(item, record=dataclasses.replace(item.record, id=f"{item.record.id}#{k}"))
            )
            reason = check_text(c.record, len(c.images))
            if reason is None and not SPLIT_NAME.fullmatch(str(c.split)):
                reason = f"{MALFORMED}: split '{c.split}' is not a split name (letters, digits, _ and .)"
            if reason is None and c.record.id in seen:
                reason = f"{DUPLICATE_ID}: '{c.record.id}' appeared in an earlier row"
            if reason:
                yield Rejection(c.file, c.row, reason)
                continue
            seen.add(c.record.id)
            yield c


class ImageWork:
    """Runs validate.load_images over chunks (every image of every row, flattened) and hands results back in
    order. Each distinct (root, path) is verified and stored once per build: later rows reuse its result.
    num_proc 1: one background thread (Pillow releases the GIL while decoding, so decoding overlaps the main
    thread's Arrow writing); num_proc N > 1: a fork pool of N processes, each chunk split N ways. Workers write
    image files themselves (data/records.write_image_file): image bytes never travel back to this process."""

    def __init__(self, num_proc: int, max_pixels: int, store_dir: Path, reference: bool) -> None:
        self.num_proc, self.max_pixels, self.pool, self.thread = num_proc, max_pixels, None, None
        self.store_dir, self.reference = str(store_dir), reference
        self.done: dict[tuple[str, str], tuple[str | None, str, int]] = {}  # (root, path) -> result
        self.roots: dict[str, str] = {}  # absolute image root -> its key in images.json (reference mode)
        if num_proc > 1:
            import multiprocessing

            self.pool = multiprocessing.get_context("fork").Pool(num_proc)
        else:
            from concurrent.futures import ThreadPoolExecutor

            self.thread = ThreadPoolExecutor(1, thread_name_prefix="vitcli-images")

    def root_key(self, root: str) -> str | None:
        if not self.reference:
            return None
        return self.roots.setdefault(os.path.normpath(os.path.abspath(root)), str(len(self.roots)))

    def submit(self, chunk: list[Item]) -> Callable[[], list[tuple[str | None, str, int]]]:
        refs = [(ref, c.image_root) for c in chunk if isinstance(c, Candidate) for ref in c.images]
        todo: dict[Any, int] = {}  # job key -> index in jobs (a path seen twice in a chunk is loaded once)
        jobs = []
        for ref, root in refs:
            key = (root, ref) if isinstance(ref, str) else id(ref)
            if key not in self.done and key not in todo:
                todo[key] = len(jobs)
                jobs.append((ref, root, self.max_pixels, self.store_dir, self.root_key(root)))
        fetch = self._run(jobs)

        def collect() -> list[tuple[str | None, str, int]]:
            got = fetch()
            for key, i in todo.items():
                if not isinstance(key, int):
                    self.done[key] = got[i]
            return [
                got[todo[k]] if k in todo else self.done[k]
                for k in ((root, ref) if isinstance(ref, str) else id(ref) for ref, root in refs)
            ]

        return collect

    def _run(self, jobs: list[tuple]) -> Callable[[], list[tuple[str | None, str, int]]]:
        if self.pool is None:
            return self.thread.submit(load_images, jobs).result
        parts = [jobs[i :: self.num_proc] for i in range(self.num_proc)]
        res = self.pool.map_async(load_images, parts, chunksize=1)

        def collect() -> list[tuple[str | None, str, int]]:
            got = res.get()
            return [got[i % self.num_proc][i // self.num_proc] for i in range(len(jobs))]

        return collect

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        if self.thread is not None:
            self.thread.shutdown(wait=True, cancel_futures=True)


class Sink:
    """Consumes processed chunks: keeps rows, reports rejections, enforces --strict/limits, and tracks which
    stored images kept rows refer to (the rest are deleted at the end)."""

    def __init__(self, work: Path, strict: bool) -> None:
        self.work, self.strict, self.features = work, strict, stored_features()
        self.writers: dict[str, SplitWriter] = {}
        self.rejected: list[Rejection] = []
        self.images: Counter = Counter()
        self.kept_images: dict[str, int] = {}  # stored ref -> bytes, for images kept rows refer to
        self.stored: set[str] = set()  # every ref a worker stored (kept or not)

    def reject(self, r: Rejection, stats: dict[str, Any]) -> None:
        if self.strict:
            raise DataError(
                f"{r.reason} (row {r.row} of {r.source})",
                "fix that row, or drop --strict to skip bad rows and list them in build_report.json",
            )
        self.rejected.append(r)
        stats["rejected"] += 1

    def consume(
        self,
        chunk: list[Item],
        results: list[tuple[str | None, str, int]],
        stats: dict[str, Any],
        limit: int | None,
    ) -> bool:
        """Returns True once `limit` rows of this source are kept (the rest of the chunk is not taken)."""
        self.stored.update(ref for ref, _, _ in results if ref is not None)
        it = iter(results)
        for item in chunk:
            if limit is not None and stats["kept"] >= limit:
                return True
            if isinstance(item, Rejection):
                self.reject(item, stats)
                continue
            loaded = [next(it) for _ in item.images]  # (ref, how, bytes) or (None, reason, 0) per image
            failed = next((how for ref, how, _ in loaded if ref is None), None)
            if failed is not None:
                self.reject(Rejection(item.file, item.row, failed), stats)
                continue
            if item.split not in self.writers:
                self.writers[item.split] = SplitWriter(self.work / f"{item.split}.arrow", self.features)
            self.writers[item.split].add(dataclasses.replace(item.record, images=[ref for ref, _, _ in loaded]))
            self.images.update([how for _, how, _ in loaded] or ["text-only"])
            self.kept_images.update((ref, n) for ref, _, n in loaded)
            stats["kept"] += 1
        return limit is not None and stats["kept"] >= limit

    def drop_unused(self, store_dir: Path) -> None:
        """Delete stored files no kept row refers to (rows rejected or cut by --max-samples after storing)."""
        for ref in self.stored - self.kept_images.keys():
            if not ref.startswith("@"):
                (store_dir / ref).unlink(missing_ok=True)


def run_source(
    index: int,
    spec: SourceSpec,
    cfg: Any,
    templates: Templates,
    work: ImageWork,
    sink: Sink,
    seen: set[str],
    progress: Callable[..., None],
) -> dict[str, Any]:
    name = Path(spec.path).name or spec.path
    stats: dict[str, Any] = {
        "kind": spec.kind,
        "name": name,
        "read": 0,
        "kept": 0,
        "rejected": 0,
        "sampled_out": 0,
    }
    limit = spec.max_samples if spec.max_samples is not None else cfg.max_samples
    items = prefilter(get_reader(spec.kind)(spec, templates), spec, index, cfg.seed, seen, stats)
    pending, t0 = None, time.monotonic()
    while True:
        chunk = list(itertools.islice(items, cfg.chunk_size))
        job = work.submit(chunk) if chunk else None  # starts now, overlapping the consume below
        if pending is not None:
            stop = sink.consume(pending[0], pending[1](), stats, limit)
            rate = stats["kept"] / max(time.monotonic() - t0, 1e-9)
            progress(advance=len(pending[0]), info=f"{name}: {stats['kept']} kept, {rate:.0f} rows/s")
            if stop:
                break
        if job is None:
            break
        pending = (chunk, job)
    if stats["read"] == 0:
        raise DataError(f"source '{name}' has no rows", "check that the file is the right one and not empty")
    return stats


def carve(counts: int, cfg: Any) -> dict[str, list[int]]:
    """Seeded exact split of `counts` train rows: round(n * ratio) rows to test and validation."""
    perm = random.Random(cfg.seed).sample(range(counts), counts)
    n_test, n_val = round(counts * cfg.test_ratio), round(counts * cfg.val_ratio)
    return {
        "train": sorted(perm[n_test + n_val :]),
        "validation": sorted(perm[n_test : n_test + n_val]),
        "test": sorted(perm[:n_test]),
    }


def run_pipeline(
    specs: list[SourceSpec],
    cfg: Any,
    templates: Templates,
    work_dir: Path,
    progress: Callable[..., None] | None,
) -> PipelineResult:
    from datasets import DatasetDict

    progress = progress or (lambda advance=1, info="": None)
    sink, seen, per_source = Sink(work_dir, cfg.strict), set(), []
    store_dir = work_dir / "store"
    store_dir.mkdir()
    work = ImageWork(cfg.num_proc, cfg.max_pixels, store_dir, getattr(cfg, "image_storage", "copy") == "reference")
    try:
        for i, spec in enumerate(specs):
            per_source.append(run_source(i, spec, cfg, templates, work, sink, seen, progress))
    finally:
        work.close()
    sink.drop_unused(store_dir)
    if not sink.writers:
        top = Counter(r.reason.split(":")[0] for r in sink.rejected).most_common(1)
        raise DataError(
            f"no rows kept: all {len(sink.rejected)} rows were rejected" + (f" (mostly '{top[0][0]}')" if top else ""),
            "rerun with --strict to stop at the first bad row and see it",
        )
    written = {name: (w.close(), w) for name, w in sink.writers.items()}
    if (cfg.val_ratio or cfg.test_ratio) and "train" in written:
        for name, ratio in (("validation", cfg.val_ratio), ("test", cfg.test_ratio)):
            if ratio and name in written:
                raise ConfigError(f"the source already has a {name} split", f"drop --{name[:4]}-ratio")
        ds, w = written.pop("train")
        for name, idx in carve(len(ds), cfg).items():
            if idx:
                part = ds.select(idx)
                part._fingerprint = hashlib.sha256(f"{name}:{w.digest.hexdigest()}:{idx}".encode()).hexdigest()[:16]
                written[name] = (part, None)
    splits, files, counts, tasks = {}, {}, {}, {}
    for name in sorted(written, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s)):
        ds, w = written[name]
        if w is not None:
            ds._fingerprint = hashlib.sha256(f"{name}:{w.digest.hexdigest()}".encode()).hexdigest()[:16]
            files[name] = w.path
        splits[name], counts[name] = ds, len(ds)
        tasks[name] = dict(sorted(Counter(ds.with_format("arrow")["task"].to_pylist()).items()))
    images = {k: sink.images[k] for k in ("original", "png", "referenced", "text-only") if sink.images[k]}
    images["references"] = sum(v for k, v in sink.images.items() if k != "text-only")  # image cells in rows
    roots = {key: root for root, key in work.roots.items()}
    return PipelineResult(
        DatasetDict(splits), counts, tasks, sink.rejected, per_source, images, files, store_dir, sink.kept_images, roots
    )


def save_dataset_dict(result: PipelineResult, out: Path) -> None:
    """save_to_disk, without copying splits that already sit in an Arrow file of ours: the library writes
    the metadata (of a one-row selection with the same features and fingerprint) and our file is moved in as
    the split's single shard. Carved splits (index selections) are saved the ordinary way."""
    import shutil

    meta = out / ".meta"
    empty = {}
    for name, ds in result.dataset_dict.items():
        empty[name] = ds.select([0]) if name in result.files else ds  # one row: one shard to replace
        empty[name]._fingerprint = ds._fingerprint
    DatasetDict_ = type(result.dataset_dict)
    DatasetDict_(empty).save_to_disk(str(meta))
    for name in result.dataset_dict:
        shutil.move(str(meta / name), str(out / name))
        if name in result.files:
            shards = list((out / name).glob("data-*.arrow"))
            assert len(shards) == 1, shards
            os.replace(result.files[name], shards[0])
    os.replace(meta / "dataset_dict.json", out / "dataset_dict.json")
    shutil.rmtree(meta)
    if result.store_dir is not None and (result.store_dir / IMAGE_DIR).is_dir():
        os.replace(result.store_dir / IMAGE_DIR, out / IMAGE_DIR)
    result.images.update(write_image_meta(out, result.image_sizes, result.roots))
