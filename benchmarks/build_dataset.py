"""Benchmark `build-dataset imagefolder` against a bare Pillow open+load loop on the same generated JPEGs.

    PYTHONPATH=. python benchmarks/build_dataset.py [--num-images 2000] [--size 512x384]

Prints images/s for the bare loop and for build_dataset at --num-proc 1 and 2 (one run each, same machine,
files warm in the page cache), the ratio build/bare at --num-proc 1 (target >= 0.7), the speed-up at
--num-proc 2, and peak RSS of this process and of its worker children. Nothing is asserted."""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


def make_images(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    """Photo-like JPEGs (shapes + blur + noise) so decoding costs what it does on real data."""
    rng = random.Random(seed)
    base = Image.effect_noise(size, 40).convert("RGB")
    paths, meta = [], []
    for i in range(n):
        img = base.copy()
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
            draw.ellipse(
                (x, y, x + rng.randint(20, 160), y + rng.randint(20, 160)),
                fill=tuple(rng.randrange(256) for _ in range(3)),
            )
        img = img.filter(ImageFilter.GaussianBlur(1))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        p = folder / f"{i:05d}.jpg"
        p.write_bytes(buf.getvalue())
        paths.append(p)
        meta.append({"file_name": p.name, "caption": f"picture number {i}"})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    return paths


def bare_loop(paths: list[Path]) -> float:
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.load()
    return len(paths) / (time.perf_counter() - t)


def build(folder: Path, out: Path, num_proc: int) -> float:
    from vitcli.data.build import BuildConfig, SourceSpec, build_dataset

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    report = build_dataset(
        BuildConfig(
            source="imagefolder",
            out=str(out),
            num_proc=num_proc,
            sources=[SourceSpec("imagefolder", str(folder))],
        )
    )
    rate = report.num_kept / (time.perf_counter() - t)
    assert report.num_kept == len(list(folder.glob("*.jpg"))), report.rejected_by_reason()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-images", type=int, default=2000)
    ap.add_argument("--size", default="512x384")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    import datasets

    datasets.disable_progress_bars()
    import vitcli.data.pipeline  # noqa: F401 - import cost is not build throughput

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        paths = make_images(folder, args.num_images, size)
        bare_loop(paths[:200])  # warm the page cache and Pillow
        bare = bare_loop(paths)
        one = build(folder, Path(tmp) / "out1", 1)
        two = build(folder, Path(tmp) / "out2", 2)
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"images: {args.num_images} JPEGs of {size[0]}x{size[1]}")
    print(f"bare PIL open+load:      {bare:8.1f} images/s")
    print(f"build --num-proc 1:      {one:8.1f} images/s   ratio vs bare {one / bare:.2f} (target >= 0.7)")
    print(f"build --num-proc 2:      {two:8.1f} images/s   speed-up vs --num-proc 1 {two / one:.2f}x")
    print(f"peak RSS: main {rss_self:.0f} MiB, largest worker {rss_kids:.0f} MiB")


if __name__ == "__main__":
    main()
