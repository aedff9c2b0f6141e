"""Caption metrics: the public COCO demo conformance set reproduced to full precision, plus validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitcli.metrics import caption
from vitcli.metrics.caption import CAPTION_KEYS, compute_caption_metrics
from vitcli.runtime.errors import ConfigError, DataError


def _load_demo(root: Path) -> tuple[dict[int, str], dict[int, list[str]]]:
    gt = json.loads((root / "captions_val2014_fakecap_gt_mixedraw.json").read_text())
    results = json.loads((root / "captions_val2014_fakecap_results.json").read_text())
    refs: dict[int, list[str]] = {img["id"]: [] for img in gt["images"]}
    for ann in gt["annotations"]:
        refs[ann["image_id"]].append(ann["caption"])
    preds = {r["image_id"]: r["caption"] for r in results}
    # the demo's order: annotation-file images that have a result
    return {k: preds[k] for k in refs if k in preds}, refs


@pytest.mark.java
def test_coco_demo_conformance(coco_conformance: Path) -> None:
    preds, refs = _load_demo(coco_conformance)
    expected_all = json.loads((coco_conformance / "expected.json").read_text())
    expected = expected_all["recomputed_with_pycocoevalcap_1_2"]
    scores = compute_caption_metrics(preds, refs)
    assert set(scores.metrics) == set(CAPTION_KEYS)
    for key, value in expected.items():
        assert abs(scores.metrics[key] - value) < 1e-12, key
    printed = expected_all["official_demo_printed"]["scores_3dp"]
    for key in CAPTION_KEYS:
        assert round(scores.metrics[key], 3) == printed[key]
    assert len(scores.per_image) == 1000
    assert all(set(row) == set(CAPTION_KEYS) for row in scores.per_image.values())


@pytest.mark.java
def test_small_caption_set_has_sane_scores() -> None:
    refs = {"1": ["a dog runs on the grass.", "A brown dog running in a field"], "2": ["two cats sleep on a bed"]}
    preds = {"1": "A dog runs on the grass.", "2": ""}
    s = compute_caption_metrics(preds, refs)
    assert s.per_image["1"]["Bleu_1"] > 0.9 and s.per_image["2"]["CIDEr"] == 0.0
    assert s.tokenized_predictions["1"] == "a dog runs on the grass"


def test_validation_errors() -> None:
    with pytest.raises(DataError, match="no predictions"):
        compute_caption_metrics({}, {"1": ["x"]})
    with pytest.raises(DataError, match="no reference captions.*'2'"):
        compute_caption_metrics({"1": "x", "2": "y"}, {"1": ["x"], "2": []})
    with pytest.raises(DataError, match="not strings"):
        compute_caption_metrics({"1": None}, {"1": ["x"]})  # type: ignore[dict-item]


def test_missing_java_is_a_config_error_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caption.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError) as err:
        compute_caption_metrics({"1": "x"}, {"1": ["x"]})
    assert "java" in err.value.message.lower() and "apt-get install default-jre" in err.value.hint


def test_missing_spice_jars_name_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(caption, "_spice_dir", lambda: tmp_path)
    (tmp_path / "spice-1.0.jar").write_bytes(b"")
    with pytest.raises(ConfigError, match="stanford-corenlp-3.6.0.jar"):
        caption.check_spice()


def test_the_java_tokenizer_says_nothing_on_stderr_and_stderr_still_works_after() -> None:
    """Both callers of the PTB tokenizer: the caption metrics and the validation CIDEr used during training."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from vitcli.metrics.caption import compute_caption_metrics\n"
        "import io; real, sys.stderr = sys.stderr, io.StringIO()  # as a progress display replaces it\n"
        "m = compute_caption_metrics({1: 'a red circle'}, {1: ['a red circle', 'a big red circle']}).metrics\n"
        "from vitcli.training.task_eval import cider  # validation-based selection's scorer\n"
        "refs = {'a': ['a red circle', 'a big red circle'], 'b': ['two blue squares', 'a blue square']}\n"
        "c = cider({'a': 'a red circle', 'b': 'blue squares'}, refs)\n"
        "from pycocoevalcap.cider.cider import Cider  # the oracle: plain words need no PTB tokenisation\n"
        "o = Cider().compute_score(refs, {'a': ['a red circle'], 'b': ['blue squares']})[0]\n"
        "sys.stderr = real; print('after', file=sys.stderr); print(round(m['Bleu_1'], 3), c == o, c > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.0 True True"
    assert "PTBTokenizer" not in done.stderr and done.stderr.strip().endswith("after")
