"""Samples/s of `vitcli train` (the library call: Trainer, callbacks, metrics.jsonl) against a bare PyTorch
loop (DataLoader -> forward -> backward -> clip -> AdamW step) on the same model, the same dataset encoding,
collator and batch size, in one run. Prints both rates, their ratio (target >= 0.9) and peak memory.

    PYTHONPATH=. python benchmarks/train_throughput.py [--steps 60] [--warmup 5] [--threads 1]
    PYTHONPATH=. python benchmarks/train_throughput.py --gpu      # bf16, SmolLM2-135M + SigLIP-B/16 sized

Both sides run `steps` optimizer steps and are timed from the end of step `warmup` to the end of the last step,
so model composition, dataset encoding and the first (allocation-heavy) steps are excluded from both. Both
decode and preprocess images per batch inside the loop (the same ConversationDataset + Collator). With --gpu
the model is a random composition the size of SmolLM2-135M (LM) + SigLIP-B/16 (tower, 224 px), and the script
also prints tokens/s and MFU (6 * params * tokens/s over the GPU's dense bf16 peak, --peak-tflops)."""

from __future__ import annotations

import argparse
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


def build_data(folder: Path, image_size: int) -> Path:
    from vitcli.data.build import BuildConfig, build_dataset
    from vitcli.data.sources.synthetic import SyntheticConfig

    out = folder / "shapes"
    build_dataset(
        BuildConfig(
            out=str(out), synthetic=SyntheticConfig(seed=0, num_train=200, num_val=4, num_test=4, image_size=image_size)
        )
    )
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
    from vitcli.data.records import IMAGE_TOKEN
    from vitcli.modeling.compose import compose_model
    from vitcli.runtime.device import seed_everything
    from vitcli.training.collate import Collator, ConversationDataset
    from vitcli.training.loop import count_image_tokens
    from vitcli.training.samples import check_samples

    seed_everything(cfg.seed)
    rows = load_built_dataset(cfg.data)["train"]
    texts = (m["content"] for conv in rows["messages"] for m in conv)
    model, processor = compose_model(cfg.model, texts)
    device = torch.device(cfg.device)
    model.to(device).train()
    dataset = ConversationDataset(rows, processor, count_image_tokens(processor), cfg.pack_turns, cfg.max_length)
    check_samples(dataset, cfg.max_length, processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), False)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.per_device_batch_size,
        shuffle=True,
        collate_fn=Collator(processor.tokenizer.pad_token_id),
        drop_last=True,
    )
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cfg.dtype == "bf16" else _null()
    clock, step, tokens = StepClock(WARMUP, sync), 0, 0
    while step < cfg.max_steps:
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
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


WARMUP = 5


def main() -> None:
    global WARMUP
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (OpenMP spin distorts shared CPUs)")
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    args = p.parse_args()
    WARMUP = args.warmup
    import torch

    torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if args.gpu else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        data = build_data(Path(tmp), 224 if args.gpu else 64)
        cfg = make_cfg(args, data, Path(tmp) / "bare")
        reset_peak(args.gpu)
        bare_s, n, tokens = bare_loop(cfg, sync)
        bare_mem = peak_memory(args.gpu)
        reset_peak(args.gpu)
        ours_s, params = vitcli_train(make_cfg(args, data, Path(tmp) / "run"), sync)
        ours_mem = peak_memory(args.gpu)
    bare_rate = n * args.batch_size / bare_s
    ours_rate = n * args.batch_size / ours_s
    print(
        f"model: {params / 1e6:.2f} M parameters, batch {args.batch_size}, {n} timed steps after {WARMUP} "
        f"warm-up, {'cuda bf16' if args.gpu else f'cpu fp32, {args.threads} threads'}"
    )
    print(f"bare PyTorch loop : {bare_rate:8.2f} samples/s   peak memory {bare_mem}")
    print(f"vitcli train      : {ours_rate:8.2f} samples/s   peak memory {ours_mem}")
    print(f"ratio vitcli/bare : {ours_rate / bare_rate:.3f}   (target >= 0.9)")
    if args.gpu:
        tok_rate = tokens / n * (n / ours_s)  # tokens per step (same data and batch size) x vitcli steps/s
        mfu = 6 * params * tok_rate / (args.peak_tflops * 1e12)
        print(f"vitcli train      : {tok_rate:10.0f} tokens/s   MFU {100 * mfu:.1f}% of {args.peak_tflops:.0f} TFLOPS")


if __name__ == "__main__":
    main()
