"""`eval --task text`: how much language a tuned model keeps, against its base LM, on text only (no image).
Perplexity over a user's text file (sliding windows, below) and exact match on a JSONL of {"prompt", "answer"} pairs
(greedy, through each model's chat template), reported base vs tuned with provenance. A VLM is scored through its
language model alone (input_ids only). Loading reuses modeling/load.py (VLMs) and modeling/pretrained.py (LMs)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitcli import __version__
from vitcli.config import TextEvalConfig
from vitcli.runtime.errors import ConfigError, DataError, ModelError

RUN_CONFIG = "train_config.json"  # training/run.py writes the resolved TrainConfig here (model.llm = the base LM)
DEFAULT_WINDOW = 512  # tokens per perplexity window when the model's own context is longer (CPU memory)


@dataclass
class TextModel:
    """A model scored on text: `model(input_ids=...)` gives next-token logits; `render` makes a chat prompt."""

    model: Any
    tokenizer: Any
    render: Callable[[str], str]
    context: int  # max positions the model was built for
    eos_token_id: Any = None
    pad_token_id: int | None = None
    vocab: int = 0  # ids the model had before vitcli added any (<image>, ChatML markers): scored and generated


@dataclass
class TextRetentionReport:
    task: str
    base: str
    tuned: str
    base_from: str  # "--base" | "run config (model.llm)"
    metrics: dict[str, dict[str, float | int | None]]  # name -> {base, tuned, ratio | delta}
    window: int
    stride: int
    text_file: str | None = None
    text_sha256: str | None = None
    qa_file: str | None = None
    qa_sha256: str | None = None
    per_item: list[dict[str, Any]] = field(default_factory=list)
    vitcli_version: str = __version__

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("per_item")
        return out


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- loading -------------------------------------------------------------------------------------------------------
def resolve_base(cfg: TextEvalConfig) -> tuple[str, str]:
    """(base LM name, where it came from): --base, else the run's recorded --llm; an error + hint when unknown."""
    if cfg.base:
        return cfg.base, "--base"
    run_config = Path(cfg.model or "") / RUN_CONFIG
    if run_config.is_file():
        from vitcli.runtime.io import read_json

        llm = (read_json(run_config).get("model") or {}).get("llm")
        if llm:
            return str(llm), "run config (model.llm)"
    raise ConfigError(
        f"no base LM is known for '{cfg.model}' (only runs composed with --llm record one)",
        "pass --base PATH (the language model it was tuned from: a hub id, a folder or a .gguf file)",
    )


def load_text_model(name: str, allow_pickle: bool = False) -> TextModel:
    """A causal LM (hub id, dir or .gguf, loaded as `train --llm` loads it) or the language side of a VLM."""
    import torch

    from vitcli.modeling.load import model_type_of

    p = Path(name).expanduser()
    if p.suffix == ".gguf" or getattr(_config_of(name), "text_config", None) is None:
        from vitcli.modeling.pretrained import load_causal_lm, prepare_chat_tokenizer
        from vitcli.modeling.word_tokenizer import CHATML_TEMPLATE

        lm, tok = load_causal_lm(name)
        vocab = lm.get_output_embeddings().weight.shape[0]
        gen = prepare_chat_tokenizer(tok, CHATML_TEMPLATE)  # the template training composed the VLM with
        fit_embeddings(lm, len(tok))
        ctx = getattr(lm.config, "max_position_embeddings", None) or getattr(lm.config, "n_positions", 2048)
        eos, pad = gen["eos_token_id"], gen["pad_token_id"]
        return TextModel(lm.eval(), tok, _chat_render(tok), int(ctx), eos, pad, vocab)
    if model_type_of(name) in ("vision-encoder-decoder",):
        raise ModelError(f"'{name}' is an encoder-decoder captioner with no text-only LM", "pass a decoder-only VLM")
    from vitcli.modeling.adapter import FamilyAdapter
    from vitcli.modeling.load import load_model

    model, processor = load_model(name, torch.float32, allow_pickle=allow_pickle)
    adapter = FamilyAdapter.for_model(model, processor)
    text_config = model.config.text_config
    ctx = getattr(text_config, "max_position_embeddings", None) or 2048

    def render(prompt: str) -> str:
        if adapter.family.prompt != "chat":
            return prompt
        return adapter.render([{"role": "user", "content": [{"type": "text", "text": prompt}]}], True)

    gen = model.generation_config
    return TextModel(model.eval(), processor.tokenizer, render, int(ctx), gen.eos_token_id, gen.pad_token_id)


def fit_embeddings(lm: Any, size: int) -> None:
    """Rows for the tokens prepare_chat_tokenizer added (ChatML markers of an LM without a template), set to the
    mean of the existing rows: deterministic, so a base LM reads a chat prompt the same way on every run."""
    import torch

    old = lm.get_input_embeddings().weight.shape[0]
    if size <= old:
        return
    lm.resize_token_embeddings(size, mean_resizing=False)
    with torch.no_grad():
        for emb in {id(m): m for m in (lm.get_input_embeddings(), lm.get_output_embeddings())}.values():
            emb.weight[old:] = emb.weight[:old].mean(0)


def _config_of(name: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise ModelError(
            f"could not read the config of '{name}': {str(e).splitlines()[0] if str(e) else type(e).__name__}",
            "check the path or hub id; offline, only local folders load",
        ) from None


def _chat_render(tokenizer: Any) -> Callable[[str], str]:
    def render(prompt: str) -> str:
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )

    return render


# --- perplexity ----------------------------------------------------------------------------------------------------
def window_spans(num_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first_scored) per window. The first window scores its tokens 1..window-1 (token 0 has no
    context and is never scored); every later window ends `stride` tokens further on and scores only those last
    `stride` tokens, so each token is scored once, with at least window - stride tokens before it. stride < window."""
    stride = max(1, min(stride, window - 1))
    spans, end = [], min(window, num_tokens)
    if end > 1:
        spans.append((0, end, 1))
    while end < num_tokens:
        first, end = end, min(end + stride, num_tokens)
        spans.append((max(0, end - window), end, first))
    return spans


def perplexity(tm: TextModel, ids: list[int], window: int, stride: int, vocab: int = 0) -> tuple[float, int]:
    """(perplexity, tokens scored) = exp(mean NLL of each token given up to `window` - 1 tokens before it).
    `vocab` > 0: the softmax runs over the first `vocab` ids only (the vocabulary base and tuned share)."""
    import torch

    device = next(tm.model.parameters()).device
    nll, count = 0.0, 0
    with torch.no_grad():
        for begin, end, first in window_spans(len(ids), window, stride):
            x = torch.tensor([ids[begin:end]], device=device)  # (1, W)
            logits = tm.model(input_ids=x).logits[0].float()  # (W, V)
            logits = logits[:, :vocab] if vocab else logits
            logp = torch.log_softmax(logits[first - begin - 1 : end - begin - 1], dim=-1)  # predicts first..end-1
            target = x[0, first - begin : end - begin]
            nll -= float(logp.gather(1, target[:, None]).sum())
            count += end - first
    if count == 0:
        raise DataError("the text file has fewer than 2 tokens", "pass a longer --text-file")
    return math.exp(nll / count), count


def text_ids(tm: TextModel, text: str) -> list[int]:
    """The file's tokens: BOS first when the tokenizer has one (as a document starts), no other specials."""
    ids = tm.tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = tm.tokenizer.bos_token_id
    return [bos, *ids] if bos is not None else ids


# --- exact match ---------------------------------------------------------------------------------------------------
def normalize_answer(s: str) -> str:
    """Lower case, whitespace collapsed, one trailing period dropped."""
    s = re.sub(r"\s+", " ", s.strip().lower())
    return s[:-1].rstrip() if s.endswith(".") else s


def answer_matches(prediction: str, answer: str) -> bool:
    """Exact match after normalisation, or the prediction starts with the answer at a word boundary
    ("paris, of course" matches "paris"; "parisian" does not)."""
    p, a = normalize_answer(prediction), normalize_answer(answer)
    return p == a or (bool(a) and p.startswith(a) and not p[len(a)].isalnum())


def answer_mentioned(prediction: str, answer: str) -> bool:
    """The answer appears in the prediction as whole words: chat LMs answer in sentences ("The capital of France
    is Paris."), which exact match scores 0 although the fact is kept."""
    import re

    a = normalize_answer(answer)
    return bool(a) and re.search(rf"(?<!\w){re.escape(a)}(?!\w)", normalize_answer(prediction)) is not None


def read_qa(path: str) -> list[dict[str, str]]:
    from vitcli.runtime.io import iter_jsonl

    rows = []
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("prompt", "answer")):
            raise DataError(
                f'line {lineno} of \'{path}\' is not a {{"prompt", "answer"}} object of strings',
                'write one JSON object per line: {"prompt": "Capital of France?", "answer": "Paris"}',
            )
        rows.append({"prompt": row["prompt"], "answer": row["answer"]})
    if not rows:
        raise DataError(f"'{path}' holds no prompt/answer pairs", "add at least one JSON line")
    return rows


def greedy_answers(tm: TextModel, prompts: list[str], max_new_tokens: int, vocab: int = 0) -> list[str]:
    """One greedy generation per prompt (no padding, so batch effects cannot differ between base and tuned).
    `vocab` > 0: ids from `vocab` on (tokens the base LM lacks, like <image>) are never generated."""
    import torch

    device = next(tm.model.parameters()).device
    width = tm.model.get_output_embeddings().weight.shape[0]
    suppress = list(range(vocab, width)) if vocab else []
    out = []
    for prompt in prompts:
        text = tm.render(prompt)
        bos = tm.tokenizer.bos_token
        add_special = not (bos and text.startswith(bos))
        ids = tm.tokenizer(text, add_special_tokens=add_special, return_tensors="pt")["input_ids"].to(device)
        with torch.no_grad():
            gen = tm.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                suppress_tokens=suppress or None,
                eos_token_id=tm.eos_token_id,
                pad_token_id=tm.pad_token_id if tm.pad_token_id is not None else tm.tokenizer.pad_token_id,
            )
        out.append(tm.tokenizer.decode(gen[0, ids.shape[1] :], skip_special_tokens=True).strip())
    return out


# --- the report ----------------------------------------------------------------------------------------------------
def evaluate_text_retention(cfg: TextEvalConfig, on_progress: Any = None) -> TextRetentionReport:
    """Score the base LM and the tuned model on the same text file / QA pairs; ratio = tuned / base perplexity,
    delta = tuned - base exact match (in %)."""
    from vitcli.runtime.device import resolve_device

    if not cfg.model:
        raise ConfigError("--task text needs --model", "pass the tuned run folder or model")
    if not cfg.text_file and not cfg.qa_file:
        raise ConfigError("--task text needs --text-file and/or --qa-file", "pass held-out text or prompt/answer pairs")
    for f in (cfg.text_file, cfg.qa_file):
        if f and not Path(f).is_file():
            raise DataError(f"file '{f}' not found", "check the path")
    base_name, base_from = resolve_base(cfg)
    text = Path(cfg.text_file).read_text(encoding="utf-8") if cfg.text_file else None
    qa = read_qa(cfg.qa_file) if cfg.qa_file else []
    device = resolve_device(cfg.device)
    tick = on_progress or (lambda *a, **k: None)
    scores: dict[str, dict[str, Any]] = {}
    answers: dict[str, list[str]] = {}
    window = stride = vocab = 0
    for role, name in (("base", base_name), ("tuned", cfg.model)):
        tm = load_text_model(name, cfg.allow_pickle)
        tm.model.to(device)
        if role == "base":  # both models are scored with the same windows, over the base's vocabulary
            window = min(cfg.window or DEFAULT_WINDOW, tm.context)
            stride = max(1, min(cfg.stride or window // 2, window - 1))
            vocab = tm.vocab or tm.model.get_output_embeddings().weight.shape[0]
        elif tm.context < window:
            raise ConfigError(f"'{name}' takes {tm.context} positions, fewer than the base's window", "pass --window")
        shared = vocab  # ids added for images / chat markers are neither scored nor generated, for either model
        scores[role] = {}
        if text is not None:
            ppl, n = perplexity(tm, text_ids(tm, text), window, stride, shared)
            scores[role].update(perplexity=ppl, tokens_scored=n)
        if qa:
            answers[role] = greedy_answers(tm, [r["prompt"] for r in qa], cfg.max_new_tokens, shared)
            hits = [answer_matches(p, r["answer"]) for p, r in zip(answers[role], qa, strict=True)]
            scores[role]["exact_match"] = 100.0 * sum(hits) / len(hits)
            said = [answer_mentioned(p, r["answer"]) for p, r in zip(answers[role], qa, strict=True)]
            scores[role]["mentions"] = 100.0 * sum(said) / len(said)
        tick(1, info=role)
        del tm
    return build_report(cfg, base_name, base_from, scores, answers, qa, window, stride)


def build_report(cfg, base_name, base_from, scores, answers, qa, window, stride) -> TextRetentionReport:  # noqa: ANN001
    metrics: dict[str, dict[str, Any]] = {}
    if "perplexity" in scores["base"]:
        b, t = scores["base"]["perplexity"], scores["tuned"]["perplexity"]
        metrics["perplexity"] = {"base": b, "tuned": t, "ratio": t / b}
        nb, nt = scores["base"]["tokens_scored"], scores["tuned"]["tokens_scored"]
        metrics["tokens_scored"] = {"base": nb, "tuned": nt, "ratio": nt / nb}
    if "exact_match" in scores["base"]:
        b, t = scores["base"]["exact_match"], scores["tuned"]["exact_match"]
        metrics["exact_match"] = {"base": b, "tuned": t, "delta": t - b}
        b, t = scores["base"]["mentions"], scores["tuned"]["mentions"]
        metrics["mentions"] = {"base": b, "tuned": t, "delta": t - b}
    per_item = [
        {"prompt": r["prompt"], "answer": r["answer"], "base": answers["base"][k], "tuned": answers["tuned"][k]}
        for k, r in enumerate(qa)
    ]
    return TextRetentionReport(
        task="text",
        base=base_name,
        tuned=str(cfg.model),
        base_from=base_from,
        metrics=metrics,
        window=window,
        stride=stride,
        text_file=cfg.text_file,
        text_sha256=sha256_of(cfg.text_file) if cfg.text_file else None,
        qa_file=cfg.qa_file,
        qa_sha256=sha256_of(cfg.qa_file) if cfg.qa_file else None,
        per_item=per_item,
    )
