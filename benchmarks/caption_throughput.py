"""Images/s of `vitcli caption` (library call, batch 1, 8, 32) against a one-by-one `model.generate` loop and
transformers' pipeline("image-text-to-text"), on the same random 'tiny'-preset LLaVA and the same 64 images,
greedy, in one run. Prints a table and the ratios; asserts nothing about time.

    PYTHONPATH=. python benchmarks/caption_throughput.py [--device cpu|cuda] [--images 64] [--threads 1]

Every method gets its model already loaded (vitcli through load_backend, timed apart); vitcli timings include
opening the image files from disk, the loop and the pipelines get decoded images. On a shared CPU, OpenMP
threads that spin while other processes hold the cores distort small models badly: --threads 1 (default)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_model(folder: Path) -> Path:
    import torch

    from vitcli.config import ModelConfig
    from vitcli.modeling.compose import build_processor, build_word_tokenizer, compose_tiny

    torch.manual_seed(0)
    words = (
        "a red blue green yellow square circle triangle star on the left right top bottom middle of "
        "image small large there is one two three shape color what where describe picture"
    ).split()
    tok = build_word_tokenizer([" ".join(words)])
    cfg = ModelConfig()  # the 'tiny' preset: 64 px, hidden 128, 2 + 2 layers
    model = compose_tiny(cfg, tok)
    model.save_pretrained(folder)
    build_processor(tok, cfg.image_size, cfg.patch_size).save_pretrained(folder)
    return folder


def make_images(folder: Path, n: int) -> list[str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        w, h = int(rng.integers(48, 160)), int(rng.integers(48, 160))
        p = folder / f"img{i:03d}.jpg"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def time_vitcli(model_dir: Path, paths: list[str], batch: int, args) -> tuple[float, list]:
    """caption_images over the image files, the model loaded beforehand (load time printed apart)."""
    from vitcli.config import GenerationConfig
    from vitcli.inference.caption import CaptionConfig, caption_images, load_backend

    cfg = CaptionConfig(
        model=str(model_dir),
        images=paths,
        device=args.device,
        dtype=args.dtype,
        generation=GenerationConfig(max_new_tokens=args.max_new_tokens, batch_size=batch),
    )
    start = time.perf_counter()
    run_batch = load_backend(cfg)
    args.load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    results = caption_images(cfg, run_batch=run_batch)
    return time.perf_counter() - start, [r.text or "" for r in results]


def time_loop(model, processor, images, prompt: str, args: argparse.Namespace) -> tuple[float, list[str]]:
    """The loop people write first: one image at a time through processor + model.generate."""
    import torch

    texts = []
    start = time.perf_counter()
    for img in images:
        inputs = processor(images=img, text=prompt, return_tensors="pt").to(model.device, model.dtype)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1] :]
        texts.append(processor.decode(new, skip_special_tokens=True).strip())
    return time.perf_counter() - start, texts


def time_pipeline(
    model, processor, images, prompt: str, args: argparse.Namespace, per_item: bool
) -> tuple[float, list[str]]:
    """pipeline('image-text-to-text') called once per image, or given images=[...], text=[...] lists, which it
    pads into ONE batch of all the images."""
    from transformers import pipeline

    pipe = pipeline("image-text-to-text", model=model, processor=processor, device=model.device)
    kwargs = {"max_new_tokens": args.max_new_tokens, "return_full_text": False, "generate_kwargs": {"do_sample": False}}
    start = time.perf_counter()
    if per_item:
        out = [pipe(images=img, text=prompt, **kwargs) for img in images]
    else:
        out = pipe(images=images, text=[prompt] * len(images), **kwargs)
    seconds = time.perf_counter() - start
    return seconds, [(o[0] if isinstance(o, list) else o)["generated_text"].strip() for o in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers

    from vitcli.data.chat import build_prompt
    from vitcli.inference.caption import DEFAULT_PROMPT, open_image_file
    from vitcli.modeling.load import load_for_inference
    from vitcli.runtime.device import resolve_device, resolve_dtype

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    tmp = Path(tempfile.mkdtemp(prefix="caption-bench-"))
    model_dir = make_model(tmp / "model")
    paths = make_images(tmp, args.images)
    device = resolve_device(args.device)
    model, processor = load_for_inference(str(model_dir), device, resolve_dtype(args.dtype, device))
    images = [open_image_file(p) for p in paths]
    prompt = build_prompt(processor.tokenizer, DEFAULT_PROMPT)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"# {args.images} images, up to {args.max_new_tokens} new tokens each, device={device}, "
        f"torch threads={torch.get_num_threads()}, model={params:,} params"
    )
    time_loop(model, processor, images[:2], prompt, args)  # warm-up

    rows: dict[str, tuple[float, list[str]]] = {}
    rows["model.generate loop (batch 1)"] = time_loop(model, processor, images, prompt, args)
    rows["pipeline, one call per image"] = time_pipeline(model, processor, images, prompt, args, True)
    rows[f"pipeline, lists (1 batch of {len(images)})"] = time_pipeline(model, processor, images, prompt, args, False)
    for batch in (1, 8, 32):
        rows[f"vitcli caption --batch-size {batch}"] = time_vitcli(model_dir, paths, batch, args)

    base = rows["model.generate loop (batch 1)"]
    print(f"{'method':<36} {'seconds':>8} {'images/s':>9} {'x loop':>7}  same text as loop")
    for name, (seconds, texts) in rows.items():
        same = texts == base[1]
        print(f"{name:<36} {seconds:8.2f} {len(paths) / seconds:9.1f} {base[0] / seconds:7.2f}  {same}")
    print(f"(vitcli model load, not counted above: {args.load_seconds:.2f} s)")


if __name__ == "__main__":
    main()
