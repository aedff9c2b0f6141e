"""Benchmark build-dataset, one JSON line per figure, everything measured side by side in one run:

    PYTHONPATH=. python benchmarks/build_dataset.py [--parts imagefolder,vqa,llava] [--rows 665000]

imagefolder: images/s of `build-dataset imagefolder` at --num-proc 1 and 2 against a bare Pillow open+load loop
  on the same generated JPEGs (ratio target >= 0.7), peak RSS of this process and of its workers.
vqa: a VQA-v2-shaped fixture (--vqa-images photo-like JPEGs x 5 questions, written as VQA v2 question and
  annotation JSON + an image folder) -> dataset bytes / image bytes (each image stored once: target <= 1.15).
llava: a generated LLaVA JSON (one .json array of --rows rows) referring to --llava-images small images, built in
  a child process -> its peak RSS (target <= 1.5 GB) and rows/s, beside the peak RSS of a child that only
  json.load()s the same file (what parsing it whole costs). Nothing is asserted."""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import resource
import shutil
import sys
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


def emit(figure: str, value: float | int, unit: str, **extra: object) -> None:
    print(json.dumps({"figure": figure, "value": value, "unit": unit, **extra}), flush=True)


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_imagefolder(tmp: Path, num_images: int, size: tuple[int, int]) -> None:
    folder = tmp / "if-images"
    folder.mkdir()
    paths = make_images(folder, num_images, size)
    bare_loop(paths[:200])  # warm the page cache and Pillow
    bare = bare_loop(paths)
    one = build(folder, tmp / "if-out1", 1)
    two = build(folder, tmp / "if-out2", 2)
    emit("imagefolder_bare_pil", round(bare, 1), "images/s", images=num_images, size=f"{size[0]}x{size[1]}")
    emit("imagefolder_build_num_proc_1", round(one, 1), "images/s", ratio_vs_bare=round(one / bare, 3), target=">=0.7")
    emit("imagefolder_build_num_proc_2", round(two, 1), "images/s", speedup_vs_1=round(two / one, 3))
    emit("imagefolder_peak_rss_main", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "MiB")


def make_vqa_fixture(folder: Path, num_images: int, questions: int, size: tuple[int, int]) -> tuple[Path, Path]:
    """VQA v2 files: questions {data_subtype, questions}, annotations {annotations: 10 answers each}, and
    folder/train2014/COCO_train2014_<id:012d>.jpg images."""
    sub = folder / "train2014"
    sub.mkdir(parents=True)
    make_images(sub, num_images, size)
    rng = random.Random(1)
    words = "red blue green two three yes no cat dog table kitchen street white black left".split()
    qs, anns = [], []
    for i in range(num_images):
        (sub / f"{i:05d}.jpg").rename(sub / f"COCO_train2014_{i:012d}.jpg")
        for k in range(questions):
            qid = i * 10 + k
            qs.append(
                {"image_id": i, "question": f"What is the {rng.choice(words)} thing number {k}?", "question_id": qid}
            )
            answers = [{"answer": rng.choice(words), "answer_confidence": "yes", "answer_id": j + 1} for j in range(10)]
            anns.append(
                {
                    "question_id": qid,
                    "image_id": i,
                    "answers": answers,
                    "multiple_choice_answer": answers[0]["answer"],
                    "answer_type": "other",
                    "question_type": "what is the",
                }
            )
    (sub / "metadata.jsonl").unlink()
    q = folder / "v2_OpenEnded_mscoco_train2014_questions.json"
    a = folder / "v2_mscoco_train2014_annotations.json"
    q.write_text(json.dumps({"data_subtype": "train2014", "questions": qs}))
    a.write_text(json.dumps({"annotations": anns}))
    return q, a


def bench_vqa(tmp: Path, num_images: int, size: tuple[int, int]) -> None:
    from vitcli.data.build import BuildConfig, SourceSpec, build_dataset

    folder = tmp / "vqa"
    q, a = make_vqa_fixture(folder, num_images, 5, size)
    image_bytes = tree_bytes(folder / "train2014")
    t = time.perf_counter()
    spec = SourceSpec("vqav2", str(q), annotations=str(a), images=str(folder))
    report = build_dataset(BuildConfig(source="vqav2", out=str(tmp / "vqa-out"), sources=[spec]))
    took = time.perf_counter() - t
    dataset_bytes = tree_bytes(tmp / "vqa-out")
    emit(
        "vqa_dataset_bytes_over_image_bytes",
        round(dataset_bytes / image_bytes, 4),
        "ratio",
        target="<=1.15",
        dataset_bytes=dataset_bytes,
        image_bytes=image_bytes,
        rows=report.num_kept,
        distinct_images=report.images.get("distinct"),
        image_size=f"{size[0]}x{size[1]}",
    )
    emit("vqa_build_rows_per_s", round(report.num_kept / took, 1), "rows/s", rows=report.num_kept)


def write_llava_json(path: Path, rows: int, images: int) -> None:
    """One JSON array of `rows` LLaVA rows (1-3 turns, LLaVA-665k-like lengths) over `images` image files."""
    rng = random.Random(2)
    text = "the a of in on with what is this picture shows man woman street car dog table".split()
    with path.open("w", encoding="utf-8") as f:
        f.write("[\n")
        for i in range(rows):
            conv = []
            for t in range(rng.randint(1, 3)):
                q = " ".join(rng.choices(text, k=rng.randint(5, 20))) + "?"
                conv += [
                    {"from": "human", "value": ("<image>\n" if t == 0 else "") + q},
                    {"from": "gpt", "value": " ".join(rng.choices(text, k=rng.randint(3, 40))) + "."},
                ]
            row = {"id": f"{i:09d}", "image": f"coco/{rng.randrange(images):06d}.jpg", "conversations": conv}
            f.write(("" if i == 0 else ",\n") + json.dumps(row))
        f.write("\n]\n")


def child_build(src: str, root: str, out: str, storage: str, queue: multiprocessing.Queue) -> None:
    import datasets

    from vitcli.data.build import BuildConfig, SourceSpec, build_dataset

    datasets.disable_progress_bars()
    t = time.perf_counter()
    spec = SourceSpec("llava", src, images=root)
    report = build_dataset(BuildConfig(source="llava", out=out, sources=[spec], image_storage=storage))
    took = time.perf_counter() - t
    queue.put(((report.num_kept, took, report.images), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def child_json_load(src: str, queue: multiprocessing.Queue) -> None:
    with open(src, encoding="utf-8") as f:
        n = len(json.load(f))
    queue.put((n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def in_child(target, *args) -> tuple[object, float]:
    """Run target(*args, queue) in a fresh spawned process; (its result, its own peak RSS in MiB, read by
    resource.getrusage inside it: the build runs its image work in a thread, so that is the whole build)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result, rss_kib = queue.get()
    proc.join()
    return result, rss_kib / 1024


def bench_llava(tmp: Path, rows: int, images: int, storages: list[str]) -> None:
    root = tmp / "llava-images"
    (root / "coco").mkdir(parents=True)
    make_images(root / "coco", images, (64, 48))
    for i in range(images):
        (root / "coco" / f"{i:05d}.jpg").rename(root / "coco" / f"{i:06d}.jpg")
    src = tmp / "llava.json"
    write_llava_json(src, rows, images)
    emit("llava_json_file", round(src.stat().st_size / 2**20, 1), "MiB", rows=rows, images=images)
    for storage in storages:
        (kept, took, counts), rss = in_child(child_build, str(src), str(root), str(tmp / f"llava-{storage}"), storage)
        emit(f"llava_build_{storage}_rows_per_s", round(kept / took, 1), "rows/s", rows=kept, seconds=round(took, 1))
        emit(f"llava_build_{storage}_peak_rss", round(rss), "MiB", target="<=1536", images=counts)
        shutil.rmtree(tmp / f"llava-{storage}")
    _, rss = in_child(child_json_load, str(src))
    emit("llava_json_load_whole_peak_rss", round(rss), "MiB", note="json.load of the same file, for comparison")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="imagefolder,vqa,llava")
    ap.add_argument("--num-images", type=int, default=2000, help="imagefolder part")
    ap.add_argument("--size", default="512x384", help="imagefolder part")
    ap.add_argument("--vqa-images", type=int, default=2000)
    ap.add_argument("--vqa-size", default="320x240")
    ap.add_argument("--rows", type=int, default=665_000, help="llava part: rows of the generated JSON array")
    ap.add_argument("--llava-images", type=int, default=3000)
    ap.add_argument("--llava-storage", default="copy,reference", help="llava part: --image-storage values to run")
    args = ap.parse_args()
    import datasets

    datasets.disable_progress_bars()
    import vitcli.data.pipeline  # noqa: F401 - import cost is not build throughput

    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if "llava" in parts:
            bench_llava(Path(tmp), args.rows, args.llava_images, args.llava_storage.split(","))
        if "vqa" in parts:
            bench_vqa(Path(tmp), args.vqa_images, tuple(int(v) for v in args.vqa_size.split("x")))
        if "imagefolder" in parts:
            bench_imagefolder(Path(tmp), args.num_images, tuple(int(v) for v in args.size.split("x")))
    print(json.dumps({"figure": "python", "value": sys.version.split()[0], "unit": "version"}))


if __name__ == "__main__":
    main()
