"""eval --task text: perplexity and exact match of a tuned model against its base LM, on tiny in-process models.
The oracle for perplexity is a separate hand computation (one window per scored token, exp of mean NLL)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.modeling.conftest import save_tiny_lm, save_tiny_vision

TEXT = "what is the shape of a red circle in the picture. describe a blue square and a green triangle. " * 2
QA = [
    {"prompt": "what is the shape", "answer": "circle"},
    {"prompt": "describe the image", "answer": "a red square"},
    {"prompt": "color of a triangle", "answer": "green"},
]


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("text_retention")
    llama = with_chat_template(save_tiny_lm("llama", root / "llama"))
    clip = save_tiny_vision("clip", root / "clip")
    (root / "text.txt").write_text(TEXT)
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in QA))
    return {"llama": llama, "clip": clip, "text": root / "text.txt", "qa": root / "qa.jsonl", "root": root}


@pytest.fixture(scope="module")
def align_run(parts, tiny_dataset) -> Path:
    """A real run composed with --llm, trained at the align stage: the LM is frozen, so its weights are the base's."""
    from vitcli.config import build_train_config
    from vitcli.training.run import train

    out = parts["root"] / "run"
    flags = {"data": str(tiny_dataset), "output": str(out), "max_steps": 2, "device": "cpu"}
    flags.update({"model.llm": str(parts["llama"]), "model.vision": str(parts["clip"])})
    train(build_train_config("test", None, ["stage=align", "model.image_size=32"], flags))
    return out


def with_chat_template(lm_dir: Path) -> Path:
    """Give the tiny LM a ChatML template whose markers are in its vocabulary, as instruct LMs (SmolLM2) ship."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from vitcli.modeling.word_tokenizer import CHATML_TEMPLATE

    tok = AutoTokenizer.from_pretrained(lm_dir)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(lm_dir)
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    model.save_pretrained(lm_dir)
    tok.save_pretrained(lm_dir)
    return lm_dir


def perturbed_copy(src: Path, out: Path, scale: float = 0.5) -> Path:
    """The same LM with noise added to every weight (seeded)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale * p.std().clamp(min=1e-3))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return out


def hand_perplexity(model_dir: Path, text: str, window: int) -> float:
    """Oracle: every token t >= 1 scored from a forward pass over the (at most window - 1) tokens before it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if tok.bos_token_id is not None:
        ids = [tok.bos_token_id, *ids]
    nlls = []
    with torch.no_grad():
        for t in range(1, len(ids)):
            ctx = ids[max(0, t - (window - 1)) : t]
            logits = model(input_ids=torch.tensor([ctx])).logits[0, -1]
            nlls.append(-float(torch.log_softmax(logits, -1)[ids[t]]))
    return math.exp(sum(nlls) / len(nlls))


def one_pass_perplexity(model_dir: Path, text: str) -> float:
    """Oracle for a text shorter than one window: one forward pass, exp of the mean NLL of tokens 1..n-1."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = [tok.bos_token_id] * (tok.bos_token_id is not None) + tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]  # (T, V)
    logp = torch.log_softmax(logits[:-1].double(), -1)
    nll = -logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    return math.exp(float(nll.mean()))


def test_window_spans_score_every_token_once():
    from vitcli.evaluation.text_retention import window_spans

    for n, w, s in [(10, 4, 2), (10, 4, 4), (7, 16, 8), (2, 4, 2), (33, 8, 3)]:
        spans = window_spans(n, w, s)
        scored = [t for _, end, first in spans for t in range(first, end)]
        assert scored == list(range(1, n))
        assert all(end - begin <= w and begin < first for begin, end, first in spans)
        assert all(first - begin >= min(w - s, first) for begin, _, first in spans)  # context before each token


def test_perplexity_equals_hand_computation(parts):
    """Stride 1 gives each token exactly window - 1 tokens of context (all in the first window), as the oracle."""
    from vitcli.evaluation.text_retention import load_text_model, perplexity, text_ids

    tm = load_text_model(str(parts["llama"]))
    window, text = 8, TEXT[:120]
    ppl, n = perplexity(tm, text_ids(tm, text), window, stride=1, vocab=tm.vocab)  # without the added <image> id
    assert n == len(text_ids(tm, text)) - 1
    assert ppl == pytest.approx(hand_perplexity(parts["llama"], text, window), rel=1e-5)
    # a longer stride gives some tokens less context, so a different number
    ppl_chunked, _ = perplexity(tm, text_ids(tm, text), window, stride=window - 1, vocab=tm.vocab)
    assert ppl_chunked != pytest.approx(ppl, rel=1e-6)


def test_identical_weights_score_ratio_one_and_same_exact_match(parts, align_run):
    from vitcli.config import TextEvalConfig
    from vitcli.evaluation.text_retention import evaluate_text_retention

    cfg = TextEvalConfig(model=str(align_run), text_file=str(parts["text"]), qa_file=str(parts["qa"]), device="cpu")
    report = evaluate_text_retention(cfg)
    assert report.base == str(parts["llama"]) and report.base_from == "run config (model.llm)"
    assert report.metrics["perplexity"]["ratio"] == 1.0
    assert report.metrics["perplexity"]["tuned"] == report.metrics["perplexity"]["base"]
    assert report.metrics["exact_match"]["delta"] == 0.0
    assert report.metrics["mentions"]["delta"] == 0.0
    assert [r["base"] for r in report.per_item] == [r["tuned"] for r in report.per_item]
    assert report.text_sha256 and len(report.qa_sha256) == 64


def test_perturbed_copy_scores_worse(parts):
    from vitcli.config import TextEvalConfig
    from vitcli.evaluation.text_retention import evaluate_text_retention

    noisy = perturbed_copy(parts["llama"], parts["root"] / "noisy")
    cfg = TextEvalConfig(model=str(noisy), base=str(parts["llama"]), text_file=str(parts["text"]), device="cpu")
    report = evaluate_text_retention(cfg)
    assert report.base_from == "--base"
    assert report.metrics["perplexity"]["ratio"] > 1.0
    assert report.window == 512  # the file is shorter than one window: every token sees all before it
    assert report.metrics["perplexity"]["tuned"] == pytest.approx(one_pass_perplexity(noisy, TEXT), rel=1e-5)
    assert report.metrics["perplexity"]["base"] == pytest.approx(one_pass_perplexity(parts["llama"], TEXT), rel=1e-5)


def test_answer_matching_rules():
    from vitcli.evaluation.text_retention import answer_matches, normalize_answer

    assert normalize_answer("  Paris.  ") == "paris"
    assert answer_matches("Paris.", "paris")
    assert answer_matches("PARIS,  of course", "Paris")
    assert not answer_matches("Parisian", "Paris")
    assert not answer_matches("It is Paris", "Paris")
    assert answer_matches("new   york", "New York.")


def test_mentions_count_whole_words_only():
    from vitcli.evaluation.text_retention import answer_mentioned

    assert answer_mentioned("The capital of France is Paris.", "Paris")
    assert answer_mentioned("A week has 7 days", "7")
    assert not answer_mentioned("A week has 17 days", "7")
    assert not answer_mentioned("Parisian food", "Paris")
    assert answer_mentioned("It was written by William   Shakespeare.", "William Shakespeare")
    assert not answer_mentioned("anything", "")


def test_cli_json_and_errors(parts, align_run, tiny_run):
    from typer.testing import CliRunner

    from vitcli.cli.app import app

    runner = CliRunner()
    args = ["eval", "--task", "text", "--model", str(align_run), "--text-file", str(parts["text"])]
    res = runner.invoke(app, [*args, "--qa-file", str(parts["qa"]), "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout.strip().splitlines()[-1])
    assert row["metrics"]["perplexity"]["ratio"] == 1.0 and row["vitcli_version"]
    assert row["window"] == 512 and row["stride"] == 256 and row["base"] == str(parts["llama"])
    # a run trained from scratch records no base LM: one error line with a hint
    res = runner.invoke(app, ["eval", "--task", "text", "--model", str(tiny_run), "--text-file", str(parts["text"])])
    assert res.exit_code == 1 and "no base LM is known" in res.output and "--base" in res.output
    assert "Traceback" not in res.output
    bad = parts["root"] / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    res = runner.invoke(app, [*args[:5], "--qa-file", str(bad)])
    assert res.exit_code == 1 and "line 1" in res.output


ENGLISH = (
    "The capital of France is Paris. Water boils at one hundred degrees Celsius at sea level. "
    "The sun rises in the east and sets in the west. A week has seven days, and a year has twelve months. "
    "Cats and dogs are common pets, and many people keep fish in small tanks at home."
)
FACTS = [
    {"prompt": "What is the capital of France? Answer with one word.", "answer": "Paris"},
    {"prompt": "How many days are in a week? Answer with one number written in digits.", "answer": "7"},
]


@pytest.mark.slow
def test_smollm2_gguf_base_and_a_llava_composed_from_it(tmp_path):
    """The real case: SmolLM2 (GGUF) as the base, and a LLaVA composed from it (`--llm`, before any training) as the
    tuned model: the language weights are the base's, so the perplexity ratio is exactly 1.0 and the facts are kept;
    the base itself reads English fluently and knows the facts."""
    from tests.smollm2 import smollm2_gguf
    from vitcli.config import ModelConfig, TextEvalConfig
    from vitcli.evaluation.text_retention import evaluate_text_retention
    from vitcli.modeling.compose import compose_model

    gguf = smollm2_gguf()
    composed = tmp_path / "composed"
    model, processor = compose_model(ModelConfig(llm=str(gguf), image_size=32, patch_size=8), [])
    model.save_pretrained(composed)
    processor.save_pretrained(composed)
    del model
    (tmp_path / "en.txt").write_text(ENGLISH)
    (tmp_path / "facts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FACTS))
    cfg = TextEvalConfig(
        model=str(composed),
        base=str(gguf),
        text_file=str(tmp_path / "en.txt"),
        qa_file=str(tmp_path / "facts.jsonl"),
        device="cpu",
        max_new_tokens=8,
    )
    report = evaluate_text_retention(cfg)
    ppl = report.metrics["perplexity"]
    assert ppl["ratio"] == pytest.approx(1.0, abs=1e-9) and 1.0 < ppl["base"] < 60  # fluent English for a 135M LM
    # SmolLM2 answers in sentences ("The capital of France is Paris ...", "A week is 7 days."), which the exact /
    # answer-prefix rule does not count; the facts are in the answers, and base and tuned answer alike
    assert "Paris" in report.per_item[0]["base"] and "7" in report.per_item[1]["base"], report.per_item
    assert [r["tuned"] for r in report.per_item] == [r["base"] for r in report.per_item]
    assert report.metrics["exact_match"]["delta"] == 0.0
