"""ScienceQA split selection: problems.json + pid_splits.json -> only the chosen split's problems are scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitcli.config import EvalConfig
from vitcli.evaluation.score import score_files
from vitcli.runtime.errors import DataError

PROBLEMS = {
    "1": {"question": "?", "choices": ["cat", "dog"], "answer": 0, "split": "train"},
    "2": {"question": "?", "choices": ["cat", "dog", "cow"], "answer": 2, "split": "test"},
    "3": {"question": "?", "choices": ["cat", "dog"], "answer": 1, "split": "test"},
    "4": {"question": "?", "choices": ["cat", "dog"], "answer": 0, "split": "val"},
    "5": {"question": "?", "choices": ["cat", "dog"], "answer": 1, "split": "test"},
}
SPLITS = {"train": ["1"], "val": ["4"], "test": ["5", "2", "3"]}
# LLaVA answer lines for every problem: the test ones are C (right), A (wrong), "The answer is B." (right)
ANSWERS = {"1": "A", "2": "C", "3": "A", "4": "B", "5": "The answer is B."}


def _files(tmp_path: Path) -> tuple[str, str, str]:
    (tmp_path / "problems.json").write_text(json.dumps(PROBLEMS))
    (tmp_path / "pid_splits.json").write_text(json.dumps(SPLITS))
    rows = [{"question_id": k, "prompt": "?", "text": v} for k, v in ANSWERS.items()]
    (tmp_path / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(tmp_path / "problems.json"), str(tmp_path / "pid_splits.json"), str(tmp_path / "answers.jsonl")


def test_split_selects_problems_and_ignores_other_predictions(tmp_path: Path) -> None:
    problems, splits, answers = _files(tmp_path)
    cfg = EvalConfig(task="multiple-choice", predictions=answers, references=problems, pid_splits=splits)
    r = score_files(cfg)
    assert [row["id"] for row in r.per_item] == ["5", "2", "3"]  # pid_splits order
    assert r.num_scored == 3 and r.metrics["accuracy"] == pytest.approx(200 / 3)
    assert r.provenance["split"] == "test" and r.provenance["num_predictions_outside_split"] == 2
    assert r.provenance["inputs"][-1]["format"] == "ScienceQA pid_splits"
    cfg.split = "val"
    assert score_files(cfg).metrics["accuracy"] == 0.0  # B for answer 0
    with pytest.raises(DataError, match="extra"):
        cfg.split = "extra"
        score_files(cfg)
    whole = score_files(EvalConfig(task="multiple-choice", predictions=answers, references=problems))
    assert whole.num_scored == 5 and whole.metrics["accuracy"] == 60.0  # 1, 2, 5 right


def test_split_lists_unknown_problem(tmp_path: Path) -> None:
    problems, splits, answers = _files(tmp_path)
    Path(splits).write_text(json.dumps({"test": ["5", "99"]}))
    with pytest.raises(DataError, match="'99'"):
        score_files(EvalConfig(task="multiple-choice", predictions=answers, references=problems, pid_splits=splits))


def test_pid_splits_only_with_multiple_choice_files(tmp_path: Path) -> None:
    from vitcli.evaluation.run import evaluate
    from vitcli.runtime.errors import UsageError

    problems, splits, answers = _files(tmp_path)
    with pytest.raises(UsageError, match="--pid-splits"):
        evaluate(EvalConfig(task="gqa", predictions=answers, references=problems, pid_splits=splits))
    with pytest.raises(UsageError, match="--pid-splits"):
        evaluate(EvalConfig(task="multiple-choice", model="runs/x", data="d", pid_splits=splits))
    report = evaluate(EvalConfig(task="multiple-choice", predictions=answers, references=problems, pid_splits=splits))
    assert report.num_scored == 3
