"""One test per reader on small real-format files, plus round trips through --export, splits and mixing."""

from __future__ import annotations

import hashlib
import json

import pytest
from data_helpers import conv, decode, image_bytes, stored_images

from vitcli.data.build import BuildConfig, SourceSpec, build_dataset, load_built_dataset, read_build_report
from vitcli.data.templates import BRIEF, SHORT_ANSWER


def build(tmp_path, kind, path, name="out", **kw):
    spec_keys = {"images", "annotations", "columns", "split", "each_caption", "hf_split", "image_pattern"}
    spec = SourceSpec(kind, str(path), **{k: v for k, v in kw.items() if k in spec_keys})
    cfg = BuildConfig(
        source=kind,
        out=str(tmp_path / name),
        sources=[spec],
        **{k: v for k, v in kw.items() if k not in spec_keys},
    )
    report = build_dataset(cfg)
    return report, load_built_dataset(tmp_path / name)


def test_llava_reader_multi_turn_text_only_and_tag_anywhere(tmp_path, write):
    write("imgs/a.jpg", image_bytes())
    write("imgs/sub/b.png", image_bytes("PNG", "RGBA"))
    rows = [
        {"id": "a", "image": "a.jpg", "conversations": conv("What colour?\n<image>", "red")},
        {
            "id": 7,
            "image": "sub/b.png",
            "conversations": conv("<image>\nDescribe.", "blue") + conv("More?", "No."),
        },
        {"id": "t", "conversations": conv("Hello", "Hi")},
        {"id": "n", "image": "a.jpg", "conversations": conv("No tag here", "ok")},
    ]
    report, dd = build(tmp_path, "llava", write("d/llava.json", rows), images=str(tmp_path / "imgs"))
    train = dd["train"]
    assert report.counts == {"train": 4} and report.rejected == []
    assert train["id"] == ["a", "7", "t", "n"]
    assert train[0]["messages"] == [
        {"role": "user", "content": "What colour?\n<image>"},
        {"role": "assistant", "content": "red"},
    ]
    assert [m["role"] for m in train[1]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert train[2]["images"] == [] and train[2]["task"] == "conversation"
    assert train[3]["messages"][0]["content"] == "<image>\nNo tag here"  # documented normalisation
    assert train[1]["images"][0].mode == "RGB" and train[0]["source"] == "llava:llava.json:1"
    # a.jpg is used twice but stored once; b.png is re-encoded (RGBA -> RGB)
    counts = {"original": 2, "png": 1, "text-only": 1, "references": 3}
    assert (
        report.images == {**counts, **stored_images(tmp_path / "out")}
        and stored_images(tmp_path / "out")["distinct"] == 2
    )


def test_llava_jsonl_and_default_image_root(tmp_path, write):
    write("d/a.jpg", image_bytes())
    path = write("d/llava.jsonl", ({"id": "x", "image": "a.jpg", "conversations": conv("<image>\nQ", "A")},))
    report, dd = build(tmp_path, "llava", path)
    assert report.counts == {"train": 1} and dd["train"][0]["images"][0].size == (24, 16)


def test_messages_reader_string_and_typed_parts(tmp_path, write):
    write("m/a.png", image_bytes("PNG"))
    rows = (
        {
            "messages": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "A square."}]},
            ],
            "images": ["a.png"],
        },
        {
            "id": "s",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "<image> Colour?"},
                {"role": "assistant", "content": "red"},
            ],
            "image": "a.png",
        },
        {
            "id": "t",
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        },
    )
    report, dd = build(tmp_path, "messages", write("m/chat.jsonl", rows))
    train = dd["train"]
    assert train["id"] == ["messages-1", "s", "t"]
    assert train[0]["messages"] == [
        {"role": "user", "content": "<image>\nWhat?"},
        {"role": "assistant", "content": "A square."},
    ]
    assert train[1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert train[2]["images"] == []


def coco_files(write):
    write("coco/val2017/000000000001.jpg", image_bytes())
    write("coco/val2017/000000000002.jpg", image_bytes(color=(1, 2, 3)))
    return write(
        "coco/captions_val2017.json",
        {
            "info": {},
            "licenses": [],
            "images": [
                {"id": 1, "file_name": "000000000001.jpg", "width": 24, "height": 16},
                {"id": 2, "file_name": "000000000002.jpg", "width": 24, "height": 16},
            ],
            "annotations": [
                {"id": 10, "image_id": 1, "caption": "A red box. "},
                {"id": 11, "image_id": 2, "caption": "Dark."},
                {"id": 12, "image_id": 1, "caption": "Something red."},
            ],
        },
    )


def test_coco_reader_official_captions(tmp_path, write):
    path = coco_files(write)
    report, dd = build(tmp_path, "coco", path, images=str(tmp_path / "coco/val2017"))
    assert report.counts == {"validation": 2}  # split from the file name
    row = dd["validation"][0]
    assert row["id"] == "coco-1" and row["task"] == "caption"
    assert row["references"] == ["A red box.", "Something red."]
    assert row["messages"][1] == {"role": "assistant", "content": "A red box."}
    assert row["messages"][0]["content"].startswith("<image>\n") and row["messages"][0]["content"][8:] in BRIEF
    _, each = build(tmp_path, "coco", path, name="each", images=str(tmp_path / "coco/val2017"), each_caption=True)
    assert each["validation"]["id"] == ["coco-1-0", "coco-1-1", "coco-2-0"]


def test_coco_reader_karpathy_splits(tmp_path, write):
    for i in range(4):
        write(f"k/val2014/COCO_val2014_{i:012d}.jpg", image_bytes(color=(i, 0, 0)))
    images = [
        {
            "filepath": "val2014",
            "filename": f"COCO_val2014_{i:012d}.jpg",
            "imgid": i,
            "cocoid": 100 + i,
            "split": s,
            "sentences": [{"tokens": ["a", "b"], "raw": f"Caption {i}.", "imgid": i, "sentid": i}],
        }
        for i, s in enumerate(["train", "restval", "val", "test"])
    ]
    report, dd = build(tmp_path, "coco", write("k/dataset_coco.json", {"images": images, "dataset": "coco"}))
    assert report.counts == {"train": 2, "validation": 1, "test": 1}
    assert dd["test"][0]["id"] == "coco-103" and dd["test"][0]["references"] == ["Caption 3."]


def vqa_files(write):
    for i in (1, 2):
        write(f"v/val2014/COCO_val2014_{i:012d}.jpg", image_bytes(color=(i, 9, 9)))
    q = write(
        "v/v2_OpenEnded_mscoco_val2014_questions.json",
        {
            "info": {},
            "task_type": "Open-Ended",
            "data_type": "mscoco",
            "data_subtype": "val2014",
            "questions": [
                {"image_id": 1, "question": "What colour is it?", "question_id": 1000},
                {"image_id": 2, "question": "How many?", "question_id": 2000},
            ],
        },
    )
    answers = [
        {"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
        for k, a in enumerate(["red"] * 7 + ["dark red", "red ", "maroon"])
    ]
    a = write(
        "v/v2_mscoco_val2014_annotations.json",
        {
            "annotations": [
                {
                    "question_type": "what color is the",
                    "multiple_choice_answer": "red",
                    "answers": answers,
                    "image_id": 1,
                    "answer_type": "other",
                    "question_id": 1000,
                }
            ]
        },
    )
    return q, a


def test_vqav2_reader_keeps_ten_answers_and_marks_unannotated(tmp_path, write):
    q, a = vqa_files(write)
    report, dd = build(tmp_path, "vqav2", q, annotations=str(a), images=str(tmp_path / "v"))
    assert report.counts == {"validation": 1, "test": 1}
    row = dd["validation"][0]
    assert row["id"] == "vqav2-1000" and len(row["answers"]) == 10 and row["answers"][8] == "red "
    assert (row["answer_type"], row["question_type"]) == ("other", "what color is the")
    assert row["messages"] == [
        {"role": "user", "content": f"<image>\nWhat colour is it?\n{SHORT_ANSWER}"},
        {"role": "assistant", "content": "red"},
    ]
    unanswered = dd["test"][0]
    assert unanswered["id"] == "vqav2-2000" and unanswered["answers"] == [] and len(unanswered["messages"]) == 1


def test_imagefolder_reader_jsonl_csv_and_column_mapping(tmp_path, write):
    write("f/a.jpg", image_bytes())
    write("f/b.png", image_bytes("PNG", "L"))
    write(
        "f/metadata.jsonl",
        ({"file_name": "a.jpg", "desc": "A red box."}, {"file_name": "b.png", "desc": "Grey."}),
    )
    report, dd = build(tmp_path, "imagefolder", tmp_path / "f", columns={"desc": "caption"})
    assert dd["train"]["references"] == [["A red box."], ["Grey."]]
    assert dd["train"][1]["images"][0].mode == "RGB"
    write("g/train/a.jpg", image_bytes())
    write("g/train/metadata.csv", "file_name,question,answer\na.jpg,What colour?,red\n")
    write("g/test/a.jpg", image_bytes())
    write("g/test/metadata.csv", "file_name,question,answer\na.jpg,Shape?,box\n")
    report, dd = build(tmp_path, "imagefolder", tmp_path / "g", name="g_out")
    assert report.counts == {"train": 1, "test": 1}
    assert dd["train"][0]["task"] == "vqa" and dd["train"][0]["answers"] == ["red"]
    assert dd["test"][0]["source"] == "imagefolder:metadata.csv:2"


def test_hf_reader_local_parquet_with_image_column(tmp_path):
    from datasets import Dataset, Features, Image, Value

    feats = Features({"image": Image(), "caption_en": Value("string"), "key": Value("string")})
    ds = Dataset.from_dict(
        {
            "image": [
                {"bytes": image_bytes(), "path": None},
                {"bytes": image_bytes("PNG", "P"), "path": None},
            ],
            "caption_en": ["red", "palette"],
            "key": ["k1", "k2"],
        },
        features=feats,
    )
    ds.to_parquet(str(tmp_path / "train.parquet"))
    report, dd = build(tmp_path, "hf", tmp_path / "train.parquet", columns={"caption_en": "caption", "key": "id"})
    assert dd["train"]["id"] == ["k1", "k2"] and dd["train"]["references"] == [["red"], ["palette"]]
    assert report.images == {"original": 1, "png": 1, "references": 2, **stored_images(tmp_path / "out")}


def test_llava_round_trip_through_export(tmp_path, write):
    jpg = image_bytes(size=(30, 20))
    write("r/a.jpg", jpg)
    write("r/b.png", image_bytes("PNG", "RGBA"))
    rows = [
        {"id": "a", "image": "a.jpg", "conversations": conv("Q?\n<image>", "A") + conv("Again?", "Yes")},
        {"id": "b", "image": "b.png", "conversations": conv("<image>\nWhat?", "blue")},
        {"id": "c", "conversations": [{"from": "system", "value": "S"}] + conv("Hi", "Hello")},
    ]
    build(tmp_path, "llava", write("r/in.json", rows), export="llava-json", export_dir=str(tmp_path / "exp"))
    back = json.loads((tmp_path / "exp/train.json").read_text())
    # normalisation: image paths become content-addressed files under images/; everything else is equal
    assert [{k: v for k, v in r.items() if k != "image"} for r in back] == [
        {k: v for k, v in r.items() if k != "image"} for r in rows
    ]
    assert (tmp_path / "exp" / back[0]["image"]).read_bytes() == jpg  # RGB JPEG kept byte for byte
    assert decode((tmp_path / "exp" / back[1]["image"]).read_bytes()).mode == "RGB"
    assert "image" not in back[2]
    _, again = build(tmp_path, "llava", tmp_path / "exp/train.json", name="again")
    assert again["train"]["messages"] == load_built_dataset(tmp_path / "out")["train"]["messages"]


def test_messages_jsonl_and_parquet_exports_load(tmp_path, write):
    from datasets import load_dataset

    write("e/a.jpg", image_bytes())
    rows = [
        {"id": "a", "image": "a.jpg", "conversations": conv("<image>\nQ", "A")},
        {"id": "t", "conversations": conv("Hi", "Hello")},
    ]
    path = write("e/in.json", rows)
    build(tmp_path, "llava", path, export="messages-jsonl", export_dir=str(tmp_path / "mj"))
    lines = [json.loads(x) for x in (tmp_path / "mj/train.jsonl").read_text().splitlines()]
    assert lines[0]["messages"][0] == {"role": "user", "content": "<image>\nQ"} and len(lines[0]["images"]) == 1
    assert json.loads((tmp_path / "mj/dataset_info.json").read_text())["vitcli_train"]["formatting"] == "sharegpt"
    _, back = build(tmp_path, "messages", tmp_path / "mj/train.jsonl", name="back")
    assert back["train"]["messages"] == load_built_dataset(tmp_path / "out")["train"]["messages"]
    build(tmp_path, "llava", path, name="o2", export="parquet", export_dir=str(tmp_path / "pq"))
    pq = load_dataset("parquet", data_files=str(tmp_path / "pq/train.parquet"), split="train")
    assert pq[0]["messages"][0]["content"] == [{"type": "image", "text": None}, {"type": "text", "text": "Q"}]
    assert pq[0]["images"][0].size == (24, 16) and pq[1]["images"] == []


def test_ratio_splits_are_exact_seeded_and_num_proc_invariant(tmp_path, write):
    for i in range(20):
        write(f"s/{i}.jpg", image_bytes(color=(i * 10, 0, 0)))
    rows = [{"id": f"r{i}", "image": f"{i}.jpg", "conversations": conv("<image>\nQ", f"A{i}")} for i in range(20)]
    path = write("s/in.json", rows)
    r1, d1 = build(tmp_path, "llava", path, name="a", val_ratio=0.1, test_ratio=0.25, seed=3)
    assert r1.counts == {"train": 13, "validation": 2, "test": 5}
    assert sorted([*d1["train"]["id"], *d1["validation"]["id"], *d1["test"]["id"]]) == sorted(r["id"] for r in rows)
    build(tmp_path, "llava", path, name="b", val_ratio=0.1, test_ratio=0.25, seed=3, num_proc=2, chunk_size=4)

    def tree(p):
        return {
            str(f.relative_to(p)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(p.rglob("*"))
            if f.is_file()
        }

    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    _, d3 = build(tmp_path, "llava", path, name="c", val_ratio=0.1, test_ratio=0.25, seed=4)
    assert list(d3["test"]["id"]) != list(d1["test"]["id"])


def test_max_samples_and_mix_recipe(tmp_path, write):
    for i in range(10):
        write(f"x/{i}.jpg", image_bytes(color=(0, i * 20, 0)))
    rows = [{"id": f"r{i}", "image": f"{i}.jpg", "conversations": conv("<image>\nQ", "A")} for i in range(10)]
    path = write("x/in.json", rows)
    report, dd = build(tmp_path, "llava", path, max_samples=3, chunk_size=2)
    assert dd["train"]["id"] == ["r0", "r1", "r2"]
    coco = coco_files(write)
    recipe = write(
        "recipe.yaml",
        f"sources:\n  - {{kind: llava, path: x/in.json, ratio: 0.5}}\n"
        f"  - {{kind: coco, path: {coco.relative_to(tmp_path)}, images: coco/val2017, "
        f"ratio: 2, split: train}}\n",
    )
    report = build_dataset(BuildConfig(source="mix", mix=str(recipe), out=str(tmp_path / "mix"), seed=1))
    ids = load_built_dataset(tmp_path / "mix")["train"]["id"]
    assert sum(i.startswith("coco-") for i in ids) == 4 and "coco-1#1" in ids
    assert report.sources[0]["kept"] + report.sources[0]["sampled_out"] == 10 and 0 < report.sources[0]["kept"] < 10
    saved = read_build_report(tmp_path / "mix")
    assert str(tmp_path) not in json.dumps(saved)  # no absolute paths in the report


@pytest.mark.parametrize("style", ["brief", "detailed"])
def test_templates_file_and_style(tmp_path, write, style):
    path = coco_files(write)
    tpl = write("t.yaml", "brief: ['Caption it.']\ndetailed: ['Tell me everything.']\n")
    _, dd = build(
        tmp_path, "coco", path, images=str(tmp_path / "coco/val2017"), templates=str(tpl), caption_style=style
    )
    want = {"brief": "Caption it.", "detailed": "Tell me everything."}[style]
    assert {r[0]["content"] for r in dd["validation"]["messages"]} == {f"<image>\n{want}"}
