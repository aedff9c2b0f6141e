"""Training-speed figures of `vitcli train` (the library call: Trainer, callbacks, metrics.jsonl), one JSON line each:

  ratio       samples/s of vitcli train against a bare PyTorch loop (DataLoader -> forward -> backward -> clip ->
              AdamW step) on the same model, dataset encoding, collator and batch size (target >= 0.9)
  data_wait   the fraction of step time the train loop waits on its next batch, with 0 DataLoader workers and
              with N (--workers, default one per spare core), for a model big enough that compute matters
              (--wait-model small|gpu) and images stored larger than the model reads them (decode + resize cost)
  first_step  seconds from calling train() to the end of the first optimizer step, for --rows and 10x --rows
              (synthetic datasets built through the library), with model composition timed separately

    PYTHONPATH=. python benchmarks/train_throughput.py [--figures ratio,data_wait,first_step] [--rows 10000]
    PYTHONPATH=. python benchmarks/train_throughput.py --gpu      # bf16, SmolLM2-135M + SigLIP-B/16 sized

Timed spans start at the end of step `warmup` and stop at the end of the last step, so model composition and the
first (allocation-heavy) steps are excluded. The bare loop and vitcli read, encode and decode per item with the same
ConversationDataset + Collator. With --gpu the model is a random composition the size of SmolLM2-135M (LM) +
SigLIP-B/16 (tower, 224 px), and the ratio line also carries tokens/s and MFU (6 * params * tokens/s over the GPU's
dense bf16 peak, --peak-tflops). On a shared CPU the absolute numbers move with the load: compare the figures of
one run."""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GPU_MODEL = {  # SmolLM2-135M (LM) + SigLIP-B/16 (tower) shapes, random weights
    "model.image_size": 224,
    "model.patch_size": 16,
    "model.vision_hidden_size": 768,
    "model.vision_num_layers": 12,
    "model.vision_num_heads": 12,
    "model.text_hidden_size": 576,
    "model.text_num_layers": 30,
    "model.text_num_heads": 9,
    "model.text_intermediate_size": 1536,
    "model.max_position_embeddings": 2048,
}


def build_data(folder: Path, image_size: int, scenes: int = 200, name: str = "shapes") -> Path:
    """A synthetic dataset of `scenes` images, five rows each (a caption and four questions)."""
    from vitcli.data.build import BuildConfig, build_dataset
    from vitcli.data.sources.synthetic import SyntheticConfig

    out = folder / name
    synthetic = SyntheticConfig(seed=0, num_train=scenes, num_val=4, num_test=4, image_size=image_size)
    build_dataset(BuildConfig(out=str(out), synthetic=synthetic))
    return out


def make_cfg(args: argparse.Namespace, data: Path, out: Path):
    from vitcli.config import build_train_config

    sets = {
        "max_steps": args.steps,
        "per_device_batch_size": args.batch_size,
        "log_every_steps": 10,
        "tensorboard": False,
        "device": "cuda" if args.gpu else "cpu",
        "dtype": "bf16" if args.gpu else "fp32",
        "data": str(data),
        "output": str(out),
        "warmup_ratio": 0.0,
    }
    cfg = build_train_config("tiny", None, [], sets)
    if args.gpu:
        from vitcli.config import apply_overrides

        apply_overrides(cfg, GPU_MODEL)
    return cfg


class StepClock:
    """Wall time at the end of step `warmup` and of the last step."""

    def __init__(self, warmup: int, sync) -> None:  # noqa: ANN001
        self.warmup, self.sync, self.t0, self.t1 = warmup, sync, 0.0, 0.0

    def tick(self, step: int) -> None:  # step counts from 1
        if step == self.warmup:
            self.sync()
            self.t0 = time.perf_counter()
        self.sync()
        self.t1 = time.perf_counter()


def bare_loop(cfg, sync) -> tuple[float, int, int]:  # noqa: ANN001
    """A plain loop on the same composition and data; returns (seconds timed, steps timed, tokens timed)."""
    import torch

    from vitcli.data.build import load_built_dataset
    from vitcli.modeling.compose import compose_model
    from vitcli.runtime.device import seed_everything
    from vitcli.training.collate import Collator, ConversationDataset
    from vitcli.training.loop import count_image_tokens
    from vitcli.training.samples import SampleLog

    seed_everything(cfg.seed)
    rows = load_built_dataset(cfg.data)["train"]
    texts = (m["content"] for conv in rows["messages"] for m in conv)
    model, processor = compose_model(cfg.model, texts)
    device = torch.device(cfg.device)
    model.to(device).train()
    dataset = ConversationDataset(rows, processor, count_image_tokens(processor), cfg.pack_turns, cfg.max_length)
    log = SampleLog()
    from vitcli.training.samples import resolve_dataloader_workers

    workers = resolve_dataloader_workers(cfg.dataloader_workers)  # as vitcli train's DataLoader
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.per_device_batch_size,
        shuffle=True,
        collate_fn=Collator(processor.tokenizer.pad_token_id),
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
        pin_memory=cfg.device.startswith("cuda"),
    )
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cfg.dtype == "bf16" else _null()
    clock, step, tokens = StepClock(WARMUP, sync), 0, 0
    while step < cfg.max_steps:
        for batch in loader:
            batch = {k: v.to(device) for k, v in log.take(batch).items()}
            with amp:
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step > WARMUP:
                tokens += int(batch["attention_mask"].sum())
            clock.tick(step)
            if step == cfg.max_steps:
                break
    return clock.t1 - clock.t0, cfg.max_steps - WARMUP, tokens


def _null():
    import contextlib

    return contextlib.nullcontext()


def vitcli_train(cfg, sync) -> tuple[float, int]:  # noqa: ANN001
    """`vitcli train` as the CLI calls it; returns (seconds timed, parameter count)."""
    from transformers import TrainerCallback

    from vitcli.training.run import train

    clock = StepClock(WARMUP, sync)

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            clock.tick(state.global_step)

    result = train(cfg, callbacks=[Clock()])
    return clock.t1 - clock.t0, result.num_parameters


def data_wait(cfg, sync) -> dict:  # noqa: ANN001
    """Fraction of the timed step time spent in the Trainer's fetch of its next batch(es) (get_batch_samples: the
    DataLoader hands over a ready batch, or the loop waits while one is read, encoded and decoded)."""
    from transformers import TrainerCallback

    from vitcli.training import loop
    from vitcli.training.run import train

    clock, waited, step = StepClock(WARMUP, sync), [0.0], [0]
    fetch = loop.VitcliTrainer.get_batch_samples

    def timed_fetch(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        t = time.perf_counter()
        out = fetch(self, *args, **kwargs)
        if step[0] >= WARMUP:  # fetches for timed steps only (the one after step `warmup` onwards)
            waited[0] += time.perf_counter() - t
        return out

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            step[0] = state.global_step
            clock.tick(state.global_step)

    loop.VitcliTrainer.get_batch_samples = timed_fetch
    try:
        train(cfg, callbacks=[Clock()])
    finally:
        loop.VitcliTrainer.get_batch_samples = fetch
    total = clock.t1 - clock.t0
    return {
        "wait_s": round(waited[0], 3),
        "step_s": round(total / (cfg.max_steps - WARMUP), 4),
        "data_wait_fraction": round(waited[0] / total, 4),
    }


def first_step(cfg) -> dict:  # noqa: ANN001
    """Seconds from calling train() to the end of optimizer step 1, and the model composition inside them."""
    from transformers import TrainerCallback

    import vitcli.modeling.compose as compose
    from vitcli.training.run import train

    start, marks = time.perf_counter(), {}
    real = compose.compose_model

    def timed_compose(*args, **kwargs):  # noqa: ANN002, ANN003
        t = time.perf_counter()
        out = real(*args, **kwargs)
        marks["compose_s"] = time.perf_counter() - t
        return out

    class Stop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            marks.setdefault("first_step_s", time.perf_counter() - start)
            control.should_training_stop = True

    compose.compose_model = timed_compose
    try:
        train(cfg, callbacks=[Stop()])
    finally:
        compose.compose_model = real
    marks["without_compose_s"] = marks["first_step_s"] - marks["compose_s"]
    return {k: round(v, 3) for k, v in marks.items()}


def peak_memory(gpu: bool) -> str:
    import torch

    if gpu:
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (CUDA, max allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process max RSS)"


def reset_peak(gpu: bool) -> None:
    import torch

    if gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


WAIT_MODEL = {  # big enough that a CPU step is mostly compute: ~20 M parameters, 64 image tokens
    "model.image_size": 64,
    "model.patch_size": 8,
    "model.vision_hidden_size": 256,
    "model.vision_num_layers": 4,
    "model.vision_num_heads": 4,
    "model.text_hidden_size": 384,
    "model.text_num_layers": 6,
    "model.text_num_heads": 6,
    "model.text_intermediate_size": 1024,
}
WARMUP = 5


def emit(figure: str, **values) -> None:  # noqa: ANN003
    print(json.dumps({"figure": figure, **values}), flush=True)


def ratio_figure(args: argparse.Namespace, folder: Path, sync) -> None:  # noqa: ANN001
    data = build_data(folder, 224 if args.gpu else 64)
    cfg = make_cfg(args, data, folder / "bare")
    reset_peak(args.gpu)
    bare_s, n, tokens = bare_loop(cfg, sync)
    bare_mem = peak_memory(args.gpu)
    reset_peak(args.gpu)
    ours_s, params = vitcli_train(make_cfg(args, data, folder / "run"), sync)
    bare_rate, ours_rate = n * args.batch_size / bare_s, n * args.batch_size / ours_s
    extra = {}
    if args.gpu:
        tok_rate = tokens / n * (n / ours_s)  # tokens per step (same data and batch size) x vitcli steps/s
        extra = {"tokens_per_s": round(tok_rate), "mfu": round(6 * params * tok_rate / (args.peak_tflops * 1e12), 4)}
    emit(
        "ratio",
        vitcli_samples_per_s=round(ours_rate, 2),
        bare_samples_per_s=round(bare_rate, 2),
        ratio=round(ours_rate / bare_rate, 3),
        target=0.9,
        params_m=round(params / 1e6, 2),
        bare_peak_memory=bare_mem,
        vitcli_peak_memory=peak_memory(args.gpu),
        timed_steps=n,
        batch=args.batch_size,
        conditions=args.conditions,
        **extra,
    )


def data_wait_figure(args: argparse.Namespace, folder: Path, sync) -> None:  # noqa: ANN001
    from vitcli.config import apply_overrides
    from vitcli.training.samples import resolve_dataloader_workers

    stored = 448 if args.gpu else args.wait_image_size  # stored larger than read: every item decodes and resizes
    data = build_data(folder, stored, scenes=max(40, args.wait_steps * args.batch_size // 5 + 8), name="wait")
    workers = resolve_dataloader_workers(args.workers)
    for n in sorted({0, workers}):
        cfg = make_cfg(args, data, folder / f"wait{n}")
        # the general path (any family, as the pretrained preset: one row per sample, no truncation)
        cfg.max_steps, cfg.dataloader_workers, cfg.pack_turns, cfg.max_length = args.wait_steps, n, 1, 0
        if not args.gpu:
            apply_overrides(cfg, WAIT_MODEL)
        result = data_wait(cfg, sync)
        emit("data_wait", workers=n, batch=args.batch_size, stored_px=stored, conditions=args.conditions, **result)


def first_step_figure(args: argparse.Namespace, folder: Path) -> None:
    for rows in (args.rows, 10 * args.rows):
        t = time.perf_counter()
        data = build_data(folder, 32, scenes=rows // 5, name=f"rows{rows}")
        built = time.perf_counter() - t
        cfg = make_cfg(argparse.Namespace(**{**vars(args), "gpu": False}), data, folder / f"first{rows}")
        cfg.max_steps, cfg.per_device_batch_size = 1, 8
        from vitcli.config import apply_overrides

        apply_overrides(cfg, {"model.image_size": 32, "model.patch_size": 8})
        result = first_step(cfg)
        emit("first_step", rows=rows, batch=8, build_s=round(built, 1), conditions=args.conditions, **result)


def main() -> None:
    global WARMUP
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--figures", default="ratio,data_wait,first_step")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (OpenMP spin distorts shared CPUs)")
    p.add_argument("--workers", type=int, default=-1, help="DataLoader workers for data_wait (-1: vitcli's default)")
    p.add_argument("--wait-steps", type=int, default=25)
    p.add_argument("--wait-image-size", type=int, default=384, help="px of the stored images (CPU data_wait)")
    p.add_argument("--rows", type=int, default=10_000, help="first_step: this many rows, then 10x as many")
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    args = p.parse_args()
    WARMUP = args.warmup
    import torch

    torch.set_num_threads(args.threads)
    args.conditions = (
        f"{'cuda bf16' if args.gpu else f'cpu fp32, {args.threads} threads'}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    sync = torch.cuda.synchronize if args.gpu else (lambda: None)
    figures = args.figures.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "ratio" in figures:
            ratio_figure(args, folder, sync)
        if "data_wait" in figures:
            data_wait_figure(args, folder, sync)
        if "first_step" in figures:
            first_step_figure(args, folder)


if __name__ == "__main__":
    main()
