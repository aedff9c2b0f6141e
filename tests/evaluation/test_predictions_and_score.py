"""Prediction/reference file parsers, coverage rules and the score_* entry points (no model, no torch)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vitcli.config import EvalConfig
from vitcli.evaluation.predictions import read_coco_captions, read_predictions, read_vqa_annotations
from vitcli.evaluation.score import score_files, score_gqa, score_vqa, write_per_item
from vitcli.runtime.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def vqa_files(tmp_path: Path) -> dict[str, Path]:
    def ann(qid: int, answers: list[str], atype: str, qtype: str) -> dict:
        return {
            "question_id": qid,
            "image_id": 7,
            "answer_type": atype,
            "question_type": qtype,
            "multiple_choice_answer": answers[0],
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)],
        }

    anns = [
        ann(1, ["yes"] * 10, "yes/no", "is the"),
        ann(2, ["2"] * 2 + ["3"] * 8, "number", "how many"),
        ann(3, ["red"] * 10, "other", "what color"),
    ]
    questions = {"questions": [{"question_id": q, "image_id": 7, "question": f"q{q}?"} for q in (1, 2, 3)]}
    return {
        "annotations": _write(tmp_path / "ann.json", {"annotations": anns}),
        "questions": _write(tmp_path / "q.json", questions),
        "results": _write(
            tmp_path / "res.json",
            [
                {"question_id": 1, "answer": "yes"},
                {"question_id": 2, "answer": "two"},
                {"question_id": 3, "answer": "blue"},
            ],
        ),
    }


# --- prediction formats --------------------------------------------------------------------------------
def test_prediction_formats(tmp_path: Path) -> None:
    coco = read_predictions(_write(tmp_path / "a.json", [{"image_id": 5, "caption": "a dog"}]))
    assert coco.texts == {"5": "a dog"} and coco.source.format == "COCO caption results"
    vqa = read_predictions(_write(tmp_path / "b.json", [{"question_id": 5, "answer": "yes"}]))
    assert vqa.texts == {"5": "yes"}
    llava = read_predictions(
        _jsonl(
            tmp_path / "c.jsonl",
            [{"question_id": 1, "text": "A", "model_id": "m"}, {"question_id": "2", "text": "B"}],
        )
    )
    assert llava.texts == {"1": "A", "2": "B"} and llava.extra["1"] == {"model_id": "m"}
    own = read_predictions(_jsonl(tmp_path / "d.jsonl", [{"id": "x", "prediction": "p"}]))
    assert own.texts == {"x": "p"} and own.source.format == "vitcli predictions JSONL"
    assert own.source.sha256 == hashlib.sha256((tmp_path / "d.jsonl").read_bytes()).hexdigest()


def test_predictions_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    text = '{"id": "a", "prediction": "x"}\n{"id": "b", "prediction": "y"}\n'
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    preds = read_predictions("-")
    assert preds.texts == {"a": "x", "b": "y"} and preds.source.path == "-"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"id": "a", "prediction": "x"}\n{"id": "b", "prediction": \n', "line 2 of"),
        ('[{"question_id": 1, "answer": "x"}, ', "not valid JSON"),
        ('{"id": "a", "prediction": "x"}\n{"id": "a", "prediction": "y"}\n', "duplicate prediction ids: 'a'"),
        ('{"id": "a", "prediction": 3}\n', "must be a string"),
        ('{"id": "a", "prediction": "x"}\n{"question_id": 1, "text": "y"}\n', "line 2 .*lacks 'id'"),
        ('{"foo": 1}\n', "not a prediction row"),
        ("[1, 2]", "item 0 .* not an object"),
        ('"just a string"', "not prediction rows"),
        ("", "is empty"),
        ('{"id": [1], "prediction": "x"}\n', "string or an integer"),
    ],
)
def test_malformed_prediction_files_are_data_errors(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        read_predictions(path)


def test_bad_utf8_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_bytes(b'[{"image_id": 1, "caption": "\xff"}]')
    with pytest.raises(DataError, match="UTF-8"):
        read_predictions(tmp_path / "bad.json")
    with pytest.raises(DataError, match="not found"):
        read_predictions(tmp_path / "nope.json")


def test_coco_caption_annotations_keep_image_order(tmp_path: Path) -> None:
    gt = {
        "images": [{"id": 9}, {"id": 3}],
        "annotations": [
            {"image_id": 3, "id": 1, "caption": "c1"},
            {"image_id": 9, "id": 2, "caption": "c2"},
            {"image_id": 3, "id": 3, "caption": "c3"},
        ],
    }
    refs, src = read_coco_captions(_write(tmp_path / "gt.json", gt))
    assert list(refs) == ["9", "3"] and refs["3"] == ["c1", "c3"]
    with pytest.raises(DataError, match="annotation 0"):
        read_coco_captions(_write(tmp_path / "bad.json", {"annotations": [{"image_id": 1}]}))


def test_vqa_annotation_parsing(vqa_files: dict[str, Path], tmp_path: Path) -> None:
    items, sources = read_vqa_annotations(vqa_files["annotations"], vqa_files["questions"])
    assert list(items) == ["1", "2", "3"] and items["2"].answers[:3] == ["2", "2", "3"]
    assert items["1"].question == "q1?" and len(sources) == 2
    with pytest.raises(DataError, match="not a VQA annotations file"):
        read_vqa_annotations(vqa_files["questions"])
    _write(tmp_path / "q2.json", {"questions": [{"question_id": 1, "question": "q"}]})
    with pytest.raises(DataError, match="missing from"):
        read_vqa_annotations(vqa_files["annotations"], tmp_path / "q2.json")


# --- scoring and coverage ------------------------------------------------------------------------------
def test_score_files_vqa(vqa_files: dict[str, Path]) -> None:
    cfg = EvalConfig(
        task="vqa",
        predictions=str(vqa_files["results"]),
        questions=str(vqa_files["questions"]),
        annotations=str(vqa_files["annotations"]),
    )
    report = score_files(cfg)
    assert report.metrics == {
        "overall": 53.33,
        "perAnswerType": {"yes/no": 100.0, "number": 60.0, "other": 0.0},
        "perQuestionType": {"is the": 100.0, "how many": 60.0, "what color": 0.0},
    }
    assert report.num_scored == 3
    assert [r["score"] for r in report.per_item] == [1.0, 0.6, 0.0]
    assert report.per_item[1]["answers"][0] == "2" and report.per_item[1]["question"] == "q2?"
    prov = report.provenance
    assert prov["vitcli_version"] and [i["path"] for i in prov["inputs"]] == [
        str(vqa_files["results"]),
        str(vqa_files["annotations"]),
        str(vqa_files["questions"]),
    ]
    assert all(len(i["sha256"]) == 64 for i in prov["inputs"])


def test_vqa_coverage_missing_extra(vqa_files: dict[str, Path], tmp_path: Path) -> None:
    items, _ = read_vqa_annotations(vqa_files["annotations"])
    with pytest.raises(DataError, match=r"2 reference id\(s\) have no VQA prediction: '2', '3'"):
        score_vqa({"1": "yes"}, items)
    report = score_vqa({"1": "yes"}, items, allow_missing=True)
    assert report.metrics["overall"] == 33.33 and report.num_scored == 3
    assert report.provenance["num_missing"] == 2 and report.per_item[1]["prediction"] is None
    with pytest.raises(DataError, match="have no reference: '99'"):
        score_vqa({"1": "yes", "2": "2", "3": "red", "99": "x"}, items, allow_missing=True)
    # a missing prediction scores 0 even where the humans answered ""
    report = score_vqa({"1": "yes"}, {"1": {"answers": ["yes"] * 10}, "q": {"answers": [""] * 10}}, allow_missing=True)
    assert [r["score"] for r in report.per_item] == [1.0, 0.0]


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown task"):
        score_files(EvalConfig(task="nope", predictions="x"))
    with pytest.raises(ConfigError, match="--annotations"):
        score_files(EvalConfig(task="vqa", predictions=__file__))


def test_score_files_gqa_choice_pope(tmp_path: Path) -> None:
    preds = _jsonl(tmp_path / "p.jsonl", [{"question_id": "a", "text": "Table"}, {"question_id": "b", "text": "no"}])
    gqa_refs = _write(tmp_path / "gqa.json", {"a": {"answer": "table", "question": "?"}, "b": {"answer": "yes"}})
    r = score_files(EvalConfig(task="gqa", predictions=str(preds), references=str(gqa_refs)))
    assert r.metrics == {"accuracy": 50.0, "num_balanced": 2, "num_unbalanced": 0}
    mc_refs = _write(
        tmp_path / "sqa.json",
        {"a": {"answer": 1, "choices": ["x", "y"]}, "b": {"answer": 0, "choices": ["x", "y"]}},
    )
    mc_preds = _jsonl(tmp_path / "mc.jsonl", [{"id": "a", "prediction": "B"}, {"id": "b", "prediction": "huh"}])
    r = score_files(EvalConfig(task="multiple-choice", predictions=str(mc_preds), references=str(mc_refs)))
    assert r.metrics == {"accuracy": 50.0, "num_unparsed": 1}
    pope_refs = _jsonl(
        tmp_path / "pope.jsonl", [{"question_id": "a", "label": "yes"}, {"question_id": "b", "label": "no"}]
    )
    pope_preds = _jsonl(
        tmp_path / "pp.jsonl",
        [{"question_id": "a", "text": "Yes."}, {"question_id": "b", "text": "No, there is not."}],
    )
    r = score_files(EvalConfig(task="pope", predictions=str(pope_preds), references=str(pope_refs)))
    assert r.metrics["accuracy"] == 1.0 and r.metrics["f1"] == 1.0 and r.metrics["yes_ratio"] == 0.5


def test_gqa_allow_missing_scores_zero() -> None:
    r = score_gqa({"a": "x"}, {"a": "x", "b": "y"}, allow_missing=True)
    assert r.metrics["accuracy"] == 50.0 and r.provenance["missing_ids"] == ["b"]


@pytest.mark.java
def test_score_files_caption_and_per_item(tmp_path: Path) -> None:
    gt = {
        "images": [{"id": 1}, {"id": 2}, {"id": 3}],
        "annotations": [
            {"image_id": i, "id": i, "caption": c}
            for i, c in [(1, "a dog on grass"), (2, "a red car"), (3, "two cats")]
        ],
    }
    refs = _write(tmp_path / "gt.json", gt)
    preds = _write(
        tmp_path / "res.json", [{"image_id": 2, "caption": "a red car"}, {"image_id": 1, "caption": "a dog"}]
    )
    cfg = EvalConfig(task="caption", predictions=str(preds), references=str(refs))
    report = score_files(cfg)
    assert report.num_scored == 2 and [r["id"] for r in report.per_item] == ["1", "2"]  # reference order
    assert set(report.metrics) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    assert report.provenance["pycocoevalcap_version"] and report.provenance["num_unscored_references"] == 1
    cfg.require_all = True
    with pytest.raises(DataError, match="have no caption prediction: '3'"):
        score_files(cfg)
    cfg.allow_missing = True
    report = score_files(cfg)
    assert report.num_scored == 3 and report.per_item[2]["prediction"] is None
    out = tmp_path / "per_item.jsonl"
    assert write_per_item(str(out), report) == 3
    assert json.loads(out.read_text().splitlines()[0])["references"] == ["a dog on grass"]


def test_scoring_imports_no_torch() -> None:
    code = (
        "import sys, vitcli.evaluation.score, vitcli.evaluation.predictions, vitcli.metrics.vqa, "
        "vitcli.metrics.caption, vitcli.metrics.gqa, vitcli.metrics.choice, vitcli.metrics.pope; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.split() == ["False", "False"]


def test_vqa_warns_when_questions_have_fewer_than_three_answers() -> None:
    from vitcli.evaluation.score import score_vqa

    items = {
        "a": {"answers": ["red"] * 10},
        "b": {"answers": ["red"]},  # the official metric: 0 even for a matching prediction
        "c": {"answers": ["red", "red"]},
    }
    report = score_vqa({"a": "red", "b": "red", "c": "red"}, items)
    assert [r["score"] for r in report.per_item] == [1.0, 0.0, pytest.approx(1 / 3)]
    assert len(report.warnings) == 1 and report.warnings[0].startswith("2 of 3 questions have fewer than 3")
    assert "(1 have one)" in report.warnings[0] and report.to_json()["warnings"] == report.warnings
    assert score_vqa({"a": "red"}, {"a": items["a"]}).warnings == []
