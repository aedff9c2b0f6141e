"""`vitcli eval --model RUN --task pope|multiple-choice|gqa` end to end on a tiny run: build a synthetic dataset with
those rows, train a few steps, generate and score; every reported figure is recomputed here from the --per-item
rows with parsers written in this file from the reference scorers' descriptions, and the gold keys are checked
against the dataset's rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vitcli.cli.app import app

runner = CliRunner()


def pope_parse(text: str) -> str:
    """POPE's evaluate.py, from its description: text before the first '.', commas dropped, split on spaces;
    'no' if any word is No / no / not."""
    words = text.split(".")[0].replace(",", "").split(" ")
    return "no" if {"No", "no", "not"} & set(words) else "yes"


def llava_letter(text: str) -> str | None:
    """LLaVA's eval_science_qa.py, from its description: the whole text is a letter A-E; or it starts 'X. ';
    or exactly one 'The answer is X.'"""
    if text in ("A", "B", "C", "D", "E"):
        return text
    if len(text) >= 3 and text[0] in "ABCDE" and text[1:3] == ". ":
        return text[0]
    found = re.findall(r"The answer is ([A-Z]).", text)
    return found[0] if len(found) == 1 else None


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gen_tasks")
    data, run = root / "data", root / "run"
    build = [
        "build-dataset",
        "synthetic",
        "--out",
        str(data),
        "--num-train",
        "12",
        "--num-val",
        "2",
        "--num-test",
        "8",
        "--image-size",
        "32",
        "--tasks",
        "caption,vqa,pope,multiple-choice,gqa",
    ]
    res = runner.invoke(app, build)
    assert res.exit_code == 0, res.output
    train = ["train", "--data", str(data), "--output", str(run), "--preset", "test", "--device", "cpu"]
    res = runner.invoke(app, [*train, "--max-steps", "3"])
    assert res.exit_code == 0, res.output
    return run, data


def _eval(run: Path, data: Path, task: str, per_item: Path) -> dict:
    args = ["eval", "--model", str(run), "--data", str(data), "--task", task, "--device", "cpu"]
    res = runner.invoke(app, [*args, "--per-item", str(per_item), "--max-new-tokens", "6", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout.strip().splitlines()[-1])


def _rows(data: Path, task: str) -> dict[str, dict]:
    from vitcli.data.build import load_built_dataset

    test = load_built_dataset(data)["test"].remove_columns("images")
    return {r["id"]: r for r in test if r["task"] == task}


def _items(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pope_from_model(run_and_data: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = run_and_data
    report = _eval(run, data, "pope", tmp_path / "pope.jsonl")
    items, rows = _items(tmp_path / "pope.jsonl"), _rows(data, "pope")
    assert [i["id"] for i in items] == list(rows) and report["num_scored"] == len(rows) == 16
    assert all(i["label"] == rows[i["id"]]["messages"][1]["content"] for i in items)
    assert all(isinstance(i["prediction"], str) for i in items)
    pred = [pope_parse(i["prediction"]) for i in items]
    gold = [i["label"] for i in items]
    assert pred == [i["parsed"] for i in items]
    tp = sum(p == g == "yes" for p, g in zip(pred, gold, strict=True))
    fp = sum(p == "yes" != g for p, g in zip(pred, gold, strict=True))
    tn = sum(p == g == "no" for p, g in zip(pred, gold, strict=True))
    m = report["metrics"]
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (tp, fp, tn, len(items) - tp - fp - tn)
    assert m["accuracy"] == pytest.approx((tp + tn) / len(items))
    assert m["yes_ratio"] == pytest.approx((tp + fp) / len(items))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / sum(g == "yes" for g in gold)
    assert m["precision"] == pytest.approx(precision) and m["recall"] == pytest.approx(recall)
    assert m["f1"] == pytest.approx(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    settings = {k for k in m if k.startswith("pope-")}
    assert settings == {"pope-random", "pope-popular", "pope-adversarial"}
    for s in settings:
        ids = [i for i in items if rows[i["id"]]["question_type"] == s]
        assert m[s]["accuracy"] == pytest.approx(sum(i["score"] for i in ids) / len(ids))
    assert report["provenance"]["model"] == str(run) and report["provenance"]["weights_sha256"]


def test_multiple_choice_and_gqa_from_model(run_and_data: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = run_and_data
    report = _eval(run, data, "multiple-choice", tmp_path / "mc.jsonl")
    items, rows = _items(tmp_path / "mc.jsonl"), _rows(data, "multiple-choice")
    assert [i["id"] for i in items] == list(rows) and report["num_scored"] == 8
    scores = []
    for i in items:
        row = rows[i["id"]]
        assert i["answer"] == row["messages"][1]["content"] and i["choices"]
        assert row["messages"][0]["content"].count("\n" + "A. " + i["choices"][0]) == 1
        letter = llava_letter(i["prediction"])
        if letter is not None and ord(letter) - ord("A") >= len(i["choices"]):
            letter = None
        assert i["parsed"] == letter
        scores.append(float(letter == i["answer"]))
    assert report["metrics"]["accuracy"] == pytest.approx(100 * sum(scores) / len(scores))
    assert report["metrics"]["num_unparsed"] == sum(i["parsed"] is None for i in items)

    report = _eval(run, data, "gqa", tmp_path / "gqa.jsonl")
    items, rows = _items(tmp_path / "gqa.jsonl"), _rows(data, "gqa")
    assert [i["id"] for i in items] == list(rows) and len(items) > 0
    hits = [i["prediction"].rstrip(".").lower() == rows[i["id"]]["messages"][1]["content"] for i in items]
    assert [i["score"] for i in items] == [float(h) for h in hits]
    assert report["metrics"]["accuracy"] == pytest.approx(100 * sum(hits) / len(hits))
    assert report["provenance"]["gqa_normalize"] == "official"


def test_task_without_rows_is_a_clear_error(tiny_run: Path, tiny_dataset: Path) -> None:
    res = runner.invoke(app, ["eval", "--model", str(tiny_run), "--data", str(tiny_dataset), "--task", "pope"])
    assert res.exit_code == 1 and "has no pope rows" in res.output and "Hint:" in res.output
