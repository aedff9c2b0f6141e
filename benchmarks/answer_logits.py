"""What projecting only the answer positions onto the vocabulary saves (training/answer_loss.py, on by default;
`--set answer_logits_only=false` turns it off). One JSON line per vocabulary size:

  {"vocab": 49152, "answer_share": 0.16, "step_s_full": .., "step_s_answers": .., "speedup": ..,
   "logits_mib_full": .., "logits_mib_answers": .., "loss_diff": ..}

The LM is SmolLM2-135M's shape (30 layers, hidden 576, random weights) with its own vocabulary (49,152) and with
Qwen2's (151,646) and Gemma 3's (262,144); a batch is 4 packed samples of --length tokens of which --answer-share
are answer tokens (VQA rows packed 5 to a sample: about 16%). A step is forward + backward + the loss; the two modes
alternate, and the median of --steps timed steps of each is reported (wall and this process's CPU seconds), so load
on a shared CPU hits both alike; with --threads 1 the CPU seconds are the steadier figure there.
`loss_diff` is |full - answers-only| on the same batch (the two losses are the same quantity).

    python benchmarks/answer_logits.py [--vocabs 49152 151646 262144] [--length 256] [--answer-share 0.16]
           [--layers 30] [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from vitcli.training.answer_loss import answer_loss_func, answer_mask

IGNORE = -100


def batch(vocab: int, size: int, length: int, answer_share: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, labels): answers are runs of 1-8 tokens spread along each row, the rest ignored."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (size, length), generator=g)
    labels = torch.full_like(ids, IGNORE)
    want = int(length * answer_share)
    for row in range(size):
        done, pos = 0, 8
        while done < want and pos < length - 1:
            run = min(int(torch.randint(1, 9, (1,), generator=g)), want - done, length - 1 - pos)
            labels[row, pos : pos + run] = ids[row, pos : pos + run]
            done, pos = done + run, pos + run + int(torch.randint(4, 24, (1,), generator=g))
    return ids, labels


def step(model: LlamaForCausalLM, ids: torch.Tensor, labels: torch.Tensor, answers_only: bool) -> float:
    model.zero_grad(set_to_none=True)
    if answers_only:
        out = model(input_ids=ids, logits_to_keep=answer_mask(labels))
        loss = answer_loss_func("token", answers_only=True)(out, labels)
    else:
        loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    return float(loss.detach())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocabs", type=int, nargs="+", default=[49152, 151646, 262144])
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--answer-share", type=float, default=0.16)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for vocab in args.vocabs:
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=vocab,
            hidden_size=576,
            intermediate_size=1536,
            num_hidden_layers=args.layers,
            num_attention_heads=9,
            num_key_value_heads=3,
            tie_word_embeddings=True,
        )
        model = LlamaForCausalLM(config).train()
        ids, labels = batch(vocab, args.batch_size, args.length, args.answer_share)
        losses = {mode: step(model, ids, labels, mode) for mode in (False, True)}  # warm-up, and the two losses
        times: dict[bool, list[float]] = {False: [], True: []}
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.steps):
            for mode in (False, True):
                start, start_cpu = time.perf_counter(), time.process_time()
                step(model, ids, labels, mode)
                times[mode].append(time.perf_counter() - start)
                cpu[mode].append(time.process_time() - start_cpu)
        full, answers = statistics.median(times[False]), statistics.median(times[True])
        full_cpu, answers_cpu = statistics.median(cpu[False]), statistics.median(cpu[True])
        kept = int(answer_mask(labels).sum())
        mib = 4 * vocab / 2**20  # fp32 logits per position
        print(
            json.dumps(
                {
                    "vocab": vocab,
                    "answer_share": round(kept / ids.numel(), 3),
                    "step_s_full": round(full, 3),
                    "step_s_answers": round(answers, 3),
                    "speedup": round(full / answers, 3),
                    "cpu_s_full": round(full_cpu, 3),
                    "cpu_s_answers": round(answers_cpu, 3),
                    "cpu_speedup": round(full_cpu / answers_cpu, 3),
                    "logits_mib_full": round(ids.numel() * mib, 1),
                    "logits_mib_answers": round(kept * mib, 1),
                    "loss_diff": abs(losses[False] - losses[True]),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
