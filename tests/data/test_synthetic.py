"""The synthetic world: schema, ground truth, determinism."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from PIL import Image

from vitcli.data.build import BuildConfig, build_dataset, load_built_dataset
from vitcli.data.records import record_features
from vitcli.data.sources.synthetic import COLORS, SHAPES, SyntheticConfig, generate_synthetic


def _hash_tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_dataset(tmp_path):
    cfg = SyntheticConfig(seed=7, num_train=5, num_val=2, num_test=2, image_size=32)
    build_dataset(BuildConfig(out=str(tmp_path / "a"), synthetic=cfg))
    build_dataset(BuildConfig(out=str(tmp_path / "b"), synthetic=cfg))
    a, b = _hash_tree(tmp_path / "a"), _hash_tree(tmp_path / "b")
    assert a == b and any(k.endswith(".arrow") for k in a)
    build_dataset(
        BuildConfig(
            out=str(tmp_path / "c"),
            synthetic=SyntheticConfig(seed=8, num_train=5, num_val=2, num_test=2, image_size=32),
        )
    )
    assert _hash_tree(tmp_path / "c") != a


def test_schema_counts_and_report(tmp_path):
    report = build_dataset(
        BuildConfig(
            out=str(tmp_path / "d"), synthetic=SyntheticConfig(num_train=10, num_val=3, num_test=4, image_size=40)
        )
    )
    dd = load_built_dataset(tmp_path / "d")
    assert set(dd) == {"train", "validation", "test"}
    assert dd["train"].features == record_features()
    # one caption + four questions per scene
    assert {k: len(v) for k, v in dd.items()} == {"train": 50, "validation": 15, "test": 20}
    assert report.tasks["train"] == {"caption": 10, "vqa": 40}
    on_disk = json.loads((tmp_path / "d" / "build_report.json").read_text())
    assert on_disk["counts"] == report.counts and on_disk["num_rejected"] == 0
    ids = [r for split in dd.values() for r in split["id"]]
    assert len(ids) == len(set(ids))
    assert [im.size for im in dd["test"][0]["images"]] == [(40, 40)]


def test_records_carry_ground_truth():
    splits = generate_synthetic(SyntheticConfig(seed=3, num_train=40, num_val=0, num_test=0, image_size=48))
    records = splits["train"]
    captions = [r for r in records if r.task == "caption"]
    vqa = [r for r in records if r.task == "vqa"]
    assert len(captions) == 40 and len(vqa) == 160
    for r in captions:
        assert len(r.references) >= 4 and len(set(r.references)) == len(r.references)
        assert r.messages[1]["content"] == r.references[0]
        assert r.messages[0]["content"].count("<image>") == 1
    for r in vqa:
        assert len(r.answers) == 10 and r.answer_type in {"yes/no", "number", "other"}
        truth = r.messages[1]["content"]
        assert r.answers.count(truth) >= 4, r.answers  # annotators mostly agree with the ground truth
        if r.answer_type == "yes/no":
            assert truth in {"yes", "no"}
        elif r.answer_type == "number":
            assert truth.isdigit()
        else:
            assert truth in set(COLORS) | set(SHAPES)
    assert {r.question_type for r in vqa} == {"what color is the", "how many", "is there a", "what shape is"}
    yes = sum(r.messages[1]["content"] == "yes" for r in vqa if r.answer_type == "yes/no")
    assert 0.3 < yes / 40 < 0.7  # existence questions are balanced


def test_caption_matches_drawn_colours():
    """The colour named first in the caption is really drawn where the caption says."""
    splits = generate_synthetic(SyntheticConfig(seed=5, num_train=20, num_val=0, num_test=0, image_size=48))
    for r in splits["train"]:
        if r.task != "caption":
            continue
        img = Image.open(io.BytesIO(r.images[0])).convert("RGB")
        words = r.references[0].split()
        color = next(w for w in words if w in COLORS)
        pixels = set(img.getdata())
        assert any(sum(abs(a - b) for a, b in zip(px, COLORS[color], strict=False)) < 30 for px in pixels)


def test_empty_validation_split_is_left_out(tmp_path):
    """--num-val 0 once failed inside datasets (from_list([]) has no columns to match the features against):
    an empty split is left out, and training/eval treat a missing split as they treat an empty one."""
    build_dataset(BuildConfig(out=str(tmp_path / "d"), synthetic=SyntheticConfig(num_train=4, num_val=0, num_test=2)))
    ds = load_built_dataset(tmp_path / "d")
    assert "validation" not in ds and len(ds["train"]) > 0 and len(ds["test"]) > 0


def test_message_texts_are_the_distinct_contents(tmp_path):
    """The tiny tokenizer's vocabulary source: every distinct message content, read from Arrow."""
    from vitcli.data.records import message_texts

    build_dataset(BuildConfig(out=str(tmp_path / "d"), synthetic=SyntheticConfig(num_train=6, num_val=1, num_test=1)))
    train = load_built_dataset(tmp_path / "d")["train"]
    texts = message_texts(train)
    assert sorted(texts) == sorted({m["content"] for conv in train["messages"] for m in conv})
    assert len(texts) < sum(len(conv) for conv in train["messages"])  # the questions repeat
