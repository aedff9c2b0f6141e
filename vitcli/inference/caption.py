"""caption_images(cfg) -> list[CaptionResult]: gather inputs (files, globs, folders, stdin, a built
dataset or a requests JSONL), open images a batch ahead, run batched generation, keep per-image errors.
A bad image fails only itself; results come back in input order, batch by batch. Printing is the CLI's job."""

from __future__ import annotations

import dataclasses
import glob
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli.config import GenerationConfig
from vitcli.runtime.errors import ConfigError, DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
BACKENDS = ("transformers", "vllm")


@dataclass
class CaptionConfig:
    model: str = ""
    images: list[str] = field(default_factory=list)  # paths, globs, folders, '-' = paths on stdin
    prompt: str | None = None  # None: caption (each family asks its own caption prompt, if any)
    data: str | None = None  # a built dataset folder: caption/ask its rows of `split`
    split: str = "test"
    requests: str | None = None  # JSONL of {"image": path, "prompt": text}
    recursive: bool = False
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    backend: str = "transformers"  # transformers | vllm
    device: str = "auto"
    dtype: str = "auto"
    load_in: str = "auto"  # weight storage: auto (= dtype) | fp32 | bf16 | fp16 | 8bit | 4bit (bitsandbytes, CUDA)
    fail_fast: bool = False
    trust_remote_code: bool = False
    allow_pickle: bool = False  # load .bin/.pt weights (weights_only=True) when a folder has no safetensors


@dataclass
class CaptionItem:
    image: str  # what results call it: the path, or the dataset row id
    prompt: str | None
    source: str | bytes | None  # a file path or encoded image bytes (None: the row has no image)
    task: str | None = None  # a dataset row's task: its caption rows are asked the way the family captions


@dataclass
class CaptionResult:
    image: str
    prompt: str | None
    text: str | None
    model: str
    num_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        if row["error"] is None:
            row.pop("error")
        return row


def iter_paths(items: Iterable[str], stdin: Iterable[str] | None = None, recursive: bool = False) -> Iterator[str]:
    """Paths as given, lazily: '-' streams one path per line from stdin, a folder yields its image files
    (sorted; all subfolders with `recursive`), a glob pattern that is not a file yields its sorted matches."""
    for item in items:
        if item == "-":
            yield from (line.strip() for line in (stdin if stdin is not None else sys.stdin) if line.strip())
        elif Path(item).is_dir():
            files = Path(item).rglob("*") if recursive else Path(item).iterdir()
            yield from (str(p) for p in sorted(files) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif glob.has_magic(item) and not Path(item).exists():
            yield from sorted(glob.glob(item, recursive=True)) or [item]  # no match: reported as not found
        else:
            yield item


def expand_inputs(items: Iterable[str], stdin: Iterable[str] | None = None, recursive: bool = False) -> list[str]:
    """iter_paths as a list, refusing an empty one."""
    paths = list(iter_paths(items, stdin, recursive))
    if not paths:
        raise DataError("no images given", "pass image paths, a folder, or '-' to read paths from stdin")
    return paths


def iter_dataset_items(data: str, split: str, prompt: str | None) -> Iterator[CaptionItem]:
    """Rows of a built dataset: their embedded image bytes, asked their first user turn (or `prompt`). Rows with
    several images are refused up front (generation takes one image per question)."""
    from vitcli.data.build import load_built_dataset
    from vitcli.data.records import check_single_image, prompt_of, undecoded_images

    ds = load_built_dataset(data)
    if split not in ds:
        raise DataError(f"dataset '{data}' has no split '{split}'", f"choose one of: {', '.join(ds)}")
    check_single_image(ds[split], "captioned")
    for row in undecoded_images(ds[split]):
        cells = row["images"]
        yield CaptionItem(
            row["id"], prompt or prompt_of(row), cells[0]["bytes"] if cells else None, None if prompt else row["task"]
        )


def iter_request_items(path: str, prompt: str | None) -> Iterator[CaptionItem]:
    """JSONL rows {"image": path, "prompt": text}; relative paths: as given, else next to the file."""
    from vitcli.runtime.io import iter_jsonl

    base = Path(path).parent
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict) or not isinstance(row.get("image"), str):
            raise DataError(
                f"line {lineno} of '{path}' needs a string 'image'",
                'each line is {"image": "path.jpg", "prompt": "question (optional)"}',
            )
        if row.get("prompt") is not None and not isinstance(row["prompt"], str):
            raise DataError(f"line {lineno} of '{path}': 'prompt' must be a string", "fix that line")
        image = row["image"]
        source = image if Path(image).exists() or Path(image).is_absolute() else str(base / image)
        yield CaptionItem(image, row.get("prompt") or prompt, source)


def iter_items(cfg: CaptionConfig, stdin: Iterable[str] | None = None) -> Iterator[CaptionItem]:
    """The one input source cfg names: image arguments, --data, or --requests."""
    given = [
        name
        for name, on in (
            ("image arguments", bool(cfg.images)),
            ("--data", bool(cfg.data)),
            ("--requests", bool(cfg.requests)),
        )
        if on
    ]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} given together", "pass one input source per run")
    if cfg.data:
        return iter_dataset_items(cfg.data, cfg.split, cfg.prompt)
    if cfg.requests:
        return iter_request_items(cfg.requests, cfg.prompt)
    return (CaptionItem(p, cfg.prompt, p) for p in iter_paths(cfg.images, stdin, cfg.recursive))


def open_image_file(path: str):
    """An upright RGB image, or a DataError naming the file and why it could not be read."""
    from vitcli.runtime.images import open_image

    return open_image(path)


def open_item_image(item: CaptionItem):
    """The item's image, from its file or its bytes (EXIF orientation applied)."""
    from vitcli.runtime.images import open_image

    if item.source is None:
        raise DataError(f"'{item.image}' has no image", "caption rows that carry an image")
    if isinstance(item.source, bytes):
        try:
            return open_image(item.source, item.image)
        except DataError:
            raise DataError(f"'{item.image}' holds no readable image", "rebuild the dataset") from None
    return open_image(item.source)


def load_batches(
    items: Iterator[CaptionItem], batch_size: int, pool: ThreadPoolExecutor
) -> Iterator[tuple[list[CaptionItem], list[Future]]]:
    """Batches of (items, image futures); the next batch's images decode while the current one generates."""
    pending = None
    while chunk := list(itertools.islice(items, batch_size)):
        loaded = (chunk, [pool.submit(open_item_image, it) for it in chunk])
        if pending:
            yield pending
        pending = loaded
    if pending:
        yield pending


RunBatch = Callable[..., list[Any]]  # (images, prompts, tasks=None) -> list[Prediction]


def caption_images(
    cfg: CaptionConfig,
    on_results: Callable[[list[CaptionResult]], None] | None = None,
    stdin: Iterable[str] | None = None,
    run_batch: RunBatch | None = None,
) -> list[CaptionResult]:
    """Caption (or ask about) every input; `on_results(batch)` fires as each batch completes, in order.
    `run_batch` (from load_backend(cfg)) reuses a loaded model across calls; by default cfg.model loads."""
    run_batch = run_batch or load_backend(cfg)
    results: list[CaptionResult] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for chunk, futures in load_batches(iter_items(cfg, stdin), cfg.generation.batch_size, pool):
            batch = [CaptionResult(it.image, it.prompt, text=None, model=cfg.model) for it in chunk]
            ok: list[tuple[int, Any]] = []
            for slot, fut in enumerate(futures):
                try:
                    ok.append((slot, fut.result()))
                except DataError as e:
                    if cfg.fail_fast:
                        raise
                    batch[slot].error = e.message
            if ok:
                preds = run_batch(
                    [img for _, img in ok], [batch[s].prompt for s, _ in ok], [chunk[s].task for s, _ in ok]
                )
                for (slot, _), pred in zip(ok, preds, strict=True):
                    r = batch[slot]
                    r.prompt, r.text, r.num_tokens = pred.prompt, pred.text, pred.num_tokens
                    r.seconds = pred.seconds
            if on_results:
                on_results(batch)
            results.extend(batch)
    if not results:
        raise DataError("no images given", "pass image paths, a folder, '-' with paths on stdin, --data or --requests")
    return results


def load_backend(cfg: CaptionConfig) -> RunBatch:
    """Load the model once and return run_batch(images, prompts) -> list[Prediction] for cfg.backend."""
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"unknown backend '{cfg.backend}'", f"use one of: {', '.join(BACKENDS)}")
    if cfg.backend == "vllm":
        from vitcli.inference.vllm_backend import load_vllm

        return load_vllm(cfg)
    import torch

    from vitcli.inference.generate import generate_batch
    from vitcli.modeling.load import load_for_inference
    from vitcli.runtime.device import resolve_device, resolve_dtype

    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    model, processor = load_for_inference(
        cfg.model, device, dtype, cfg.trust_remote_code, cfg.allow_pickle, load_in=cfg.load_in
    )
    if cfg.generation.temperature > 0:
        torch.manual_seed(cfg.generation.seed)

    def run_batch(images: list[Any], prompts: list[str | None], tasks: list[str | None] | None = None) -> list[Any]:
        return generate_batch(model, processor, images, prompts, cfg.generation, tasks)

    return run_batch
