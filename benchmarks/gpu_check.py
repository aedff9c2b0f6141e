"""The figures benchmarks/gpu_check.sh reports, one subcommand each; every figure is one JSON line on stdout
({"figure": ..., ...}), logs go to stderr. Random weights at real sizes: a SmolLM2-135M-shaped LM (hidden 576,
30 layers, 9 heads / 3 KV heads, MLP 1536, vocab 49152) and a SigLIP-B/16-shaped tower at 384 px (576 image tokens).

    python benchmarks/gpu_check.py setup WORK        # parts + dataset under WORK (run once)
    python benchmarks/gpu_check.py train WORK        # bf16 step time, samples/s, MFU, peak memory vs estimate
    python benchmarks/gpu_check.py qlora WORK        # a 4-bit LoRA run: step time, peak memory vs bf16
    python benchmarks/gpu_check.py caption WORK      # batched vs one-by-one captioning of the trained run
    python benchmarks/gpu_check.py device WORK       # --device cuda:N honoured / refused
    python benchmarks/gpu_check.py vllm WORK         # --backend vllm on the exported run (if vllm imports)

--tiny shrinks every size so the whole flow dry-runs on a CPU in a few minutes (figures then mean nothing)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LM = {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3}
LM |= {"intermediate_size": 1536, "vocab_size": 49152, "max_position_embeddings": 2048}
TOWER = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}
TOWER |= {"image_size": 384, "patch_size": 16}
TINY_LM = {**LM, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
TINY_LM |= {"intermediate_size": 128, "vocab_size": 512}
TINY_TOWER = {**TOWER, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
TINY_TOWER |= {"image_size": 64}
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}


def emit(figure: str, **values: Any) -> None:
    print(json.dumps({"figure": figure, **values}), flush=True)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def device() -> str:
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def setup(work: Path, tiny: bool) -> None:
    """Random LM + tower saved as pretrained parts (safetensors), and a synthetic dataset."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    from vitcli.data.build import BuildConfig, build_dataset, load_built_dataset
    from vitcli.data.sources.synthetic import SyntheticConfig
    from vitcli.modeling.word_tokenizer import build_word_tokenizer

    n = 64 if tiny else 512
    build_dataset(
        BuildConfig(
            out=str(work / "data"),
            synthetic=SyntheticConfig(seed=0, num_train=n, num_val=8, num_test=64, image_size=64),
        )
    )
    rows = load_built_dataset(str(work / "data"))["train"]
    tokenizer = build_word_tokenizer(
        m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
        for conv in rows["messages"]
        for m in conv
    )
    torch.manual_seed(0)
    lm_cfg = LlamaConfig(
        **(TINY_LM if tiny else LM),
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(lm_cfg).save_pretrained(work / "lm")
    tokenizer.save_pretrained(work / "lm")
    tower_cfg = SiglipVisionConfig(**(TINY_TOWER if tiny else TOWER), vision_use_head=False)
    SiglipVisionModel(tower_cfg).save_pretrained(work / "tower")
    side = tower_cfg.image_size
    SiglipImageProcessor(size={"height": side, "width": side}).save_pretrained(work / "tower")
    emit("setup", train_rows=len(rows), lm_vocab=lm_cfg.vocab_size, tokenizer_size=len(tokenizer), image_px=side)


class StepClock:
    """Wall time of each optimizer step (CUDA-synchronised), as a Trainer callback."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):  # noqa: ANN001
                sync()
                clock.start = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
                sync()
                clock.times.append(time.perf_counter() - clock.start)

        self.start, self.times, self.callback = 0.0, [], Callback()

    def steady(self, skip: int = 3) -> float:
        """Median step time after the first `skip` steps (compilation, allocator warm-up)."""
        times = sorted(self.times[skip:] or self.times)
        return times[len(times) // 2]


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_training(work: Path, name: str, steps: int, batch: int, **flags: Any) -> tuple[Any, StepClock, float]:
    """train() on the saved parts; returns (result, step clock, peak GiB allocated on the GPU)."""
    import torch

    from vitcli.config import build_train_config
    from vitcli.training.run import train

    base = {
        "data": str(work / "data"),
        "output": str(work / name),
        "model.llm": str(work / "lm"),
        "model.vision": str(work / "tower"),
        "max_steps": steps,
        "per_device_batch_size": batch,
        "overwrite": True,
        "max_length": 1024,  # the estimate's sequence length (576 image tokens + the conversation fit)
        "device": "auto",
        "log_every_steps": 5,
    }
    cfg = build_train_config("pretrained", None, ["tensorboard=false"], {**base, **flags})
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    clock, notes = StepClock(), []
    result = train(cfg, callbacks=[clock.callback], notify=notes.append)
    peak = torch.cuda.max_memory_allocated() / 1024**3 if torch.cuda.is_available() else None
    log("\n".join(notes))
    return result, clock, peak


def flops_per_sample(model_dir: Path, text_tokens: int) -> float:
    """Training FLOPs of one sample: 6·N·T for the LM over (image + text) tokens and for the tower over its patches,
    plus attention scores (12·L·d·T² forward+backward); the standard MFU accounting (PaLM, appendix B)."""
    from transformers import AutoConfig

    lm, tower = AutoConfig.from_pretrained(model_dir).text_config, AutoConfig.from_pretrained(model_dir).vision_config
    patches = (tower.image_size // tower.patch_size) ** 2
    seq = patches + text_tokens
    d, n_layers, ff = lm.hidden_size, lm.num_hidden_layers, lm.intermediate_size
    kv = d * lm.num_key_value_heads // lm.num_attention_heads
    lm_params = n_layers * (2 * d * d + 2 * d * kv + 3 * d * ff) + lm.vocab_size * d
    td, tl, tff = tower.hidden_size, tower.num_hidden_layers, tower.intermediate_size
    tower_params = tl * (4 * td * td + 2 * td * tff)
    return 6 * lm_params * seq + 12 * n_layers * d * seq**2 + 6 * tower_params * patches + 12 * tl * td * patches**2


def peak_tflops() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def train_figures(work: Path, tiny: bool) -> None:
    import torch

    batch, steps = (2, 4) if tiny else (16, 30)
    result, clock, peak = run_training(work, "run_bf16", steps, batch, stage="full")
    step = clock.steady()
    samples_s = batch / step
    text, patches = text_tokens(work), image_tokens(work / "run_bf16")
    flops = flops_per_sample(work / "run_bf16", text) * samples_s
    peak_tf = peak_tflops()
    emit(
        "train_bf16",
        device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        batch=batch,
        steps=result.global_step,
        step_s=round(step, 4),
        samples_per_s=round(samples_s, 2),
        tokens_per_s=round(samples_s * (patches + text), 1),
        model_tflops=round(flops / 1e12, 2),
        mfu=round(flops / (peak_tf * 1e12), 4) if peak_tf else None,
        peak_bf16_tflops=peak_tf,
        first_loss=round(result.first_loss, 4),
        final_loss=round(result.final_loss, 4),
    )
    emit(
        "memory_vs_estimate",
        run="bf16 full",
        peak_allocated_gib=round(peak, 3) if peak else None,
        estimate_gib=round(result.memory_estimate_gib, 3),
        estimate_over_peak=round(result.memory_estimate_gib / peak, 3) if peak else None,
    )


def image_tokens(model_dir: Path) -> int:
    from transformers import AutoConfig

    tower = AutoConfig.from_pretrained(model_dir).vision_config
    return (tower.image_size // tower.patch_size) ** 2


def text_tokens(work: Path) -> int:
    """Mean text tokens of a training conversation (the sequence beyond its image tokens)."""
    from transformers import AutoTokenizer

    from vitcli.data.build import load_built_dataset

    tok = AutoTokenizer.from_pretrained(work / "run_bf16")
    rows = load_built_dataset(str(work / "data"))["train"].select(range(64))
    texts = [tok.apply_chat_template(conv, tokenize=False) for conv in rows["messages"]]
    lengths = [len(tok(t)["input_ids"]) - t.count("<image>") for t in texts]  # the image token counted apart
    return round(sum(lengths) / len(lengths))


def qlora_figures(work: Path, tiny: bool) -> None:
    batch, steps = (2, 4) if tiny else (16, 20)
    import torch

    if importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available():
        emit("qlora_4bit", skipped="needs CUDA and bitsandbytes (pip install 'vitcli[quant]')")
        return
    result, clock, peak = run_training(work, "run_4bit", steps, batch, stage="instruct", lora=True, load_in="4bit")
    lora, lclock, lpeak = run_training(work, "run_bf16_lora", steps, batch, stage="instruct", lora=True)
    emit(
        "qlora_4bit",
        batch=batch,
        steps=result.global_step,
        step_s=round(clock.steady(), 4),
        bf16_lora_step_s=round(lclock.steady(), 4),
        peak_allocated_gib=round(peak, 3) if peak else None,
        bf16_lora_peak_gib=round(lpeak, 3) if lpeak else None,
        estimate_gib=round(result.memory_estimate_gib, 3),
        bf16_lora_estimate_gib=round(lora.memory_estimate_gib, 3),
        final_loss=round(result.final_loss, 4),
    )


def caption_figures(work: Path, tiny: bool) -> None:
    """images/s of the trained run, batch 16 vs batch 1 (same images, greedy), and whether the texts agree."""
    from vitcli.config import GenerationConfig
    from vitcli.inference.caption import CaptionConfig, caption_images, load_backend

    n = 8 if tiny else 64
    cfg = CaptionConfig(model=str(work / "run_bf16"), images=[str(test_images(work, n))], device="auto")
    run_batch = load_backend(cfg)
    out = {}
    for size in (16, 1):
        cfg.generation = GenerationConfig(max_new_tokens=16, batch_size=size)
        caption_images(cfg, run_batch=run_batch)  # warm-up pass (kernels, allocator)
        sync()
        start = time.perf_counter()
        results = caption_images(cfg, run_batch=run_batch)
        sync()
        out[size] = (len(results) / (time.perf_counter() - start), [r.text for r in results])
    agree = sum(a == b for a, b in zip(out[16][1], out[1][1], strict=True)) / len(out[1][1])
    emit(
        "caption_batched_vs_single",
        images=len(out[1][1]),
        batch16_images_per_s=round(out[16][0], 2),
        batch1_images_per_s=round(out[1][0], 2),
        speedup=round(out[16][0] / out[1][0], 2),
        same_text=agree,
    )


def test_images(work: Path, n: int) -> Path:
    """The first `n` distinct test images of the dataset, as PNG files (the caption inputs users pass)."""
    from vitcli.runtime.images import open_image

    folder = work / f"images_{n}"
    if not folder.is_dir():
        from vitcli.data.build import load_built_dataset
        from vitcli.data.records import undecoded_images

        folder.mkdir()
        for i, row in enumerate(undecoded_images(load_built_dataset(str(work / "data"))["test"])):
            if i == n:
                break
            open_image(row["images"][0]["bytes"], row["id"]).save(folder / f"{i:03d}.png")
    return folder


def device_figures(work: Path, tiny: bool) -> None:
    """cuda:0 given explicitly lands there (train + caption); an index past the last GPU is one ConfigError."""
    import torch

    from vitcli.runtime.device import resolve_device
    from vitcli.runtime.errors import ConfigError

    if not torch.cuda.is_available():
        emit("device_index", skipped="no CUDA")
        return
    count = torch.cuda.device_count()
    last = f"cuda:{count - 1}"
    result, _, _ = run_training(work, "run_index", 2, 2, stage="align", device=last)
    from vitcli.modeling.load import load_for_inference

    model, _ = load_for_inference(str(work / "run_index"), last, torch.bfloat16)
    placed = str(next(model.parameters()).device)
    try:
        resolve_device(f"cuda:{count}")
        refused = False
    except ConfigError as e:
        refused = e.hint
    emit(
        "device_index",
        gpus=count,
        asked=last,
        trained_steps=result.global_step,
        caption_model_on=placed,
        honoured=placed == last,
        past_last_refused=refused,
    )


def vllm_figures(work: Path, tiny: bool) -> None:
    if importlib.util.find_spec("vllm") is None:
        emit("vllm", skipped="vllm is not installed on this machine")
        return
    from vitcli.config import GenerationConfig
    from vitcli.inference.caption import CaptionConfig, caption_images, load_backend

    cfg = CaptionConfig(
        model=str(work / "run_bf16"),
        data=str(work / "data"),
        split="test",
        backend="vllm",
        generation=GenerationConfig(max_new_tokens=16, batch_size=64),
    )
    start = time.perf_counter()
    run_batch = load_backend(cfg)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    results = caption_images(cfg, run_batch=run_batch)
    seconds = time.perf_counter() - start
    emit(
        "vllm",
        images=len(results),
        load_s=round(load_s, 1),
        images_per_s=round(len(results) / seconds, 2),
        errors=sum(r.error is not None for r in results),
        sample=results[0].text,
    )


FIGURES = {
    "setup": setup,
    "train": train_figures,
    "qlora": qlora_figures,
    "caption": caption_figures,
    "device": device_figures,
    "vllm": vllm_figures,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=FIGURES)
    parser.add_argument("work", type=Path)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: a CPU dry run of the flow")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from vitcli.cli.output import quiet_libraries

    quiet_libraries()
    start = time.perf_counter()
    try:
        FIGURES[args.figure](args.work, args.tiny)
    except Exception as e:  # one figure failing must not hide the others: report it as a figure
        emit(args.figure, error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500])
        raise
    finally:
        log(f"{args.figure}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
