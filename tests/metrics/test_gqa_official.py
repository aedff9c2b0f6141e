"""GQA scoring against an independent re-implementation of the official procedure as LLaVA runs it (written here
from its description: the converter strips trailing periods and lower-cases each answer; eval.py keeps balanced
questions and does exact match), on adversarial answer strings where the official and VQA normalisations differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitcli.config import EvalConfig
from vitcli.evaluation.score import score_files
from vitcli.metrics.gqa import compute_gqa_accuracy, summarize_gqa
from vitcli.runtime.errors import DataError, UsageError

# (prediction as the model wrote it, gold answer as GQA stores it)
CASES = [
    ("yes", "yes"),
    ("Yes.", "yes"),  # converter: strip '.', lower -> match
    ("yes..", "yes"),  # rstrip strips every trailing period
    ("yes. ", "yes"),  # the space protects the period: no match
    (" yes", "yes"),  # no whitespace stripping
    ("The table", "table"),  # articles kept
    ("a cat", "cat"),
    ("two", "2"),  # no number words
    ("2", "two"),
    ("t-shirt", "t shirt"),  # no hyphen handling
    ("red, white", "red white"),  # no punctuation handling
    ("yes!", "yes"),
    ("LEFT", "left"),
    ("Left.", "left"),
    ("dont", "don't"),  # no contractions
    ("table", "Table"),  # gold is not lower-cased
    ("man's", "man's"),
    ("blue.", "blue"),
    ("no", "yes"),
    ("", "no"),
]


def oracle_convert(llava_rows: list[dict]) -> list[dict]:
    """LLaVA's converter, from its description: one {questionId, prediction} per answer line."""
    out = []
    for row in llava_rows:
        text = row["text"]
        while text.endswith("."):
            text = text[:-1]
        out.append({"questionId": row["question_id"], "prediction": text.lower()})
    return out


def oracle_eval(questions: dict, predictions: list[dict]) -> float:
    """eval.py's accuracy, from its description: balanced questions only, exact string match, in percent."""
    by_id = {p["questionId"]: p["prediction"] for p in predictions}
    correct = total = 0
    for qid, q in questions.items():
        if q.get("isBalanced", True):
            total += 1
            correct += by_id[qid] == q["answer"]
    return 100.0 * correct / total


def _questions(balanced_every: int = 3) -> dict:
    return {
        f"q{i}": {
            "answer": gold,
            "isBalanced": i % balanced_every != 1,
            "types": {"structural": "verify" if gold in ("yes", "no") else "query", "semantic": "attr"},
        }
        for i, (_, gold) in enumerate(CASES)
    }


def test_official_equals_oracle_on_adversarial_strings() -> None:
    preds = {f"q{i}": p for i, (p, _) in enumerate(CASES)}
    golds = {f"q{i}": g for i, (_, g) in enumerate(CASES)}
    questions = {k: {"answer": g} for k, g in golds.items()}
    llava = [{"question_id": k, "text": v} for k, v in preds.items()]
    expected = oracle_eval(questions, oracle_convert(llava))
    s = compute_gqa_accuracy(preds, golds)
    assert s.accuracy == pytest.approx(expected)
    # hand-checked: yes, Yes., yes.., LEFT, Left., man's, blue. -> 7 of 20
    assert s.accuracy == pytest.approx(35.0)
    vqa = compute_gqa_accuracy(preds, golds, normalize="vqa")
    assert vqa.accuracy > s.accuracy
    differ = {k for k in preds if s.per_item[k] != vqa.per_item[k]}
    assert {"q3", "q4", "q5", "q6", "q7", "q11", "q15"} <= differ  # space, article, number word, '!', case


def test_balanced_only_and_types() -> None:
    preds = {f"q{i}": p for i, (p, _) in enumerate(CASES)}
    questions = _questions()
    expected = oracle_eval(questions, oracle_convert([{"question_id": k, "text": v} for k, v in preds.items()]))
    s = compute_gqa_accuracy(
        preds,
        {k: q["answer"] for k, q in questions.items()},
        balanced={k: q["isBalanced"] for k, q in questions.items()},
        types={k: q["types"] for k, q in questions.items()},
    )
    assert s.accuracy == pytest.approx(expected)
    n_bal = sum(q["isBalanced"] for q in questions.values())
    assert (s.num_balanced, s.num_unbalanced) == (n_bal, len(CASES) - n_bal)
    verify = [k for k, q in questions.items() if q["isBalanced"] and q["types"]["structural"] == "verify"]
    assert s.by_structural["verify"] == pytest.approx(100 * sum(s.per_item[k] for k in verify) / len(verify))
    assert s.by_semantic == {"attr": pytest.approx(s.accuracy)}
    with pytest.raises(DataError, match="balanced"):
        summarize_gqa({"a": 1.0}, {"a": False})


def _dump(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_score_files_reads_official_and_llava_predictions(tmp_path: Path) -> None:
    questions = _questions()
    qfile = _dump(tmp_path / "testdev_balanced_questions.json", questions)
    llava = [{"question_id": f"q{i}", "text": p, "prompt": "?"} for i, (p, _) in enumerate(CASES)]
    (tmp_path / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in llava))
    official = _dump(tmp_path / "testdev_balanced_predictions.json", oracle_convert(llava))
    expected = oracle_eval(questions, oracle_convert(llava))
    for preds in (tmp_path / "answers.jsonl", official):
        r = score_files(EvalConfig(task="gqa", predictions=str(preds), references=str(qfile)))
        assert r.metrics["accuracy"] == pytest.approx(expected)
        assert r.metrics["num_balanced"] == sum(q["isBalanced"] for q in questions.values())
        assert {"verify", "query"} == set(r.metrics["structural"])
        assert r.provenance["gqa_normalize"] == "official"
        assert sum(1 for row in r.per_item if not row["balanced"]) == r.metrics["num_unbalanced"]
    assert r.provenance["inputs"][0]["format"] == "GQA predictions"
    lenient = score_files(EvalConfig(task="gqa", predictions=str(official), references=str(qfile), gqa_normalize="vqa"))
    assert lenient.metrics["accuracy"] > expected
    with pytest.raises(UsageError, match="--gqa-normalize"):
        score_files(EvalConfig(task="gqa", predictions=str(official), references=str(qfile), gqa_normalize="x"))


def test_missing_predictions_count_in_balanced_accuracy(tmp_path: Path) -> None:
    qfile = _dump(
        tmp_path / "q.json",
        {
            "a": {"answer": "yes", "isBalanced": True},
            "b": {"answer": "no", "isBalanced": True},
            "c": {"answer": "no", "isBalanced": False},
        },
    )
    preds = _dump(tmp_path / "p.json", [{"questionId": "a", "prediction": "Yes."}])
    with pytest.raises(DataError, match="have no GQA prediction"):
        score_files(EvalConfig(task="gqa", predictions=str(preds), references=str(qfile)))
    r = score_files(EvalConfig(task="gqa", predictions=str(preds), references=str(qfile), allow_missing=True))
    assert r.metrics["accuracy"] == 50.0 and r.metrics["num_balanced"] == 2 and r.num_scored == 3


def test_cli_bad_normalisation_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vitcli.cli.app import app

    qfile = _dump(tmp_path / "q.json", {"a": {"answer": "yes"}})
    preds = _dump(tmp_path / "p.json", [{"questionId": "a", "prediction": "Yes."}])
    args = ["eval", "--task", "gqa", "--predictions", str(preds), "--references", str(qfile), "--json"]
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0 and json.loads(ok.stdout.splitlines()[-1])["metrics"]["accuracy"] == 100.0
    bad = CliRunner().invoke(app, [*args, "--gqa-normalize", "lenient"])
    assert bad.exit_code == 2 and "--gqa-normalize" in bad.output and "Hint:" in bad.output
