"""Multi-image rows: each reader keeps every image of a row, in placeholder order; the '<image>' count rule refuses
a mismatch with its reason in build_report.json; exports round-trip two images; TRL's VLM layout (typed-part
messages + an images column, as parquet or save_to_disk) reads as is; datasets of the old single `image` column
still load; generation-based consumers refuse multi-image rows with a clear error."""

from __future__ import annotations

import json

import pytest
from data_helpers import conv, decode, image_bytes, stored_images

from vitcli.data.build import BuildConfig, SourceSpec, build_dataset, load_built_dataset, read_build_report
from vitcli.runtime.errors import DataError

RED, BLUE = image_bytes(size=(24, 16)), image_bytes("PNG", size=(10, 30), color=(0, 0, 255))


def build(tmp_path, kind, path, name="out", **kw):
    images = kw.pop("images", None)
    cfg = BuildConfig(source=kind, out=str(tmp_path / name), sources=[SourceSpec(kind, str(path), images=images)], **kw)
    return build_dataset(cfg), load_built_dataset(tmp_path / name)


def sizes(row) -> list[tuple[int, int]]:
    return [im.size for im in row["images"]]


def test_llava_image_list_keeps_order_and_the_count_rule_reports_a_mismatch(tmp_path, write):
    write("d/a.jpg", RED)
    write("d/b.png", BLUE)
    rows = [
        {"id": "two", "image": ["b.png", "a.jpg"], "conversations": conv("<image>\n<image>\nSame colour?", "no")},
        {"id": "untagged", "image": ["a.jpg", "b.png"], "conversations": conv("Compare.", "different")},
        {
            "id": "later",
            "image": ["a.jpg", "b.png"],
            "conversations": conv("<image>\nThis?", "red") + conv("And <image>?", "blue"),
        },
        {"id": "short", "image": ["a.jpg", "b.png"], "conversations": conv("<image>\nOnly one tag", "x")},
    ]
    report, dd = build(tmp_path, "llava", write("d/in.json", rows))
    train = dd["train"]
    assert train["id"] == ["two", "untagged", "later"]
    assert sizes(train[0]) == [(10, 30), (24, 16)] and sizes(train[2]) == [(24, 16), (10, 30)]
    assert train[1]["messages"][0]["content"] == "<image>\n<image>\nCompare."  # one tag per image prepended
    # counted per image cell; the two files are stored once each
    assert report.images == {"original": 6, "references": 6, "distinct": 2, "bytes": len(RED) + len(BLUE)}
    assert stored_images(tmp_path / "out") == {"distinct": 2, "bytes": len(RED) + len(BLUE)}
    saved = read_build_report(tmp_path / "out")
    assert saved["rejected"] == [
        {
            "source": "in.json",
            "row": 4,
            "reason": "image tag count: found 1 '<image>', expected 2 (one per image of the row)",
        }
    ]


def test_messages_reader_typed_parts_with_two_images(tmp_path, write):
    write("m/a.jpg", RED)
    write("m/b.png", BLUE)
    parts = [
        {"type": "image"},
        {"type": "text", "text": "Left,"},
        {"type": "image", "text": None},
        {"type": "text", "text": "right: which is red?"},
    ]
    rows = (
        {
            "id": "m",
            "images": ["a.jpg", "b.png"],
            "messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "left"}],
        },
    )
    report, dd = build(tmp_path, "messages", write("m/chat.jsonl", rows))
    row = dd["train"][0]
    assert row["messages"][0]["content"] == "<image>\nLeft,\n<image>\nright: which is red?"
    assert sizes(row) == [(24, 16), (10, 30)]


def trl_dataset():
    """TRL's VLM layout as in HuggingFaceH4/llava-instruct-mix-vsft: typed parts (null text on image parts) and
    an `images` column of images, embedded."""
    from datasets import Dataset, Features, Image, List, Value

    part = {"index": Value("int64"), "text": Value("string"), "type": Value("string")}
    feats = Features({"messages": List({"role": Value("string"), "content": List(part)}), "images": List(Image())})
    img, txt = ({"index": 0, "text": None, "type": "image"}, lambda t: {"index": None, "text": t, "type": "text"})
    return Dataset.from_dict(
        {
            "messages": [
                [
                    {"role": "user", "content": [img, img, txt("Which one is blue?")]},
                    {"role": "assistant", "content": [txt("The second.")]},
                ],
                [{"role": "user", "content": [img, txt("Colour?")]}, {"role": "assistant", "content": [txt("red")]}],
                [{"role": "user", "content": [txt("Hi")]}, {"role": "assistant", "content": [txt("Hello")]}],
            ],
            "images": [[decode(RED), decode(BLUE)], [decode(RED)], []],
        },
        features=feats,
    )


@pytest.mark.parametrize("saved_as", ["parquet", "save_to_disk"])
def test_hf_reader_reads_the_trl_vlm_layout(tmp_path, saved_as):
    ds = trl_dataset()
    if saved_as == "parquet":
        ds.to_parquet(str(tmp_path / "train.parquet"))
        src = tmp_path / "train.parquet"
    else:
        from datasets import DatasetDict

        DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "trl"))
        src = tmp_path / "trl"
    report, dd = build(tmp_path, "hf", src)
    train = dd["train"]
    assert report.rejected == [] and report.counts == {"train": 3}
    assert train[0]["messages"] == [
        {"role": "user", "content": "<image>\n<image>\nWhich one is blue?"},
        {"role": "assistant", "content": "The second."},
    ]
    assert sizes(train[0]) == [(24, 16), (10, 30)] and sizes(train[1]) == [(24, 16)] and train[2]["images"] == []
    assert train[0]["images"][1].getpixel((5, 5)) == (0, 0, 255)


def test_two_image_row_round_trips_through_every_export(tmp_path, write):
    write("r/a.jpg", RED)
    write("r/b.png", BLUE)
    rows = [
        {"id": "two", "image": ["a.jpg", "b.png"], "conversations": conv("<image>\n<image>\nCompare.", "A")},
        {"id": "one", "image": "a.jpg", "conversations": conv("<image>\nQ", "B")},
    ]
    path = write("r/in.json", rows)
    build(tmp_path, "llava", path, export="llava-json", export_dir=str(tmp_path / "lj"))
    back = json.loads((tmp_path / "lj/train.json").read_text())
    assert isinstance(back[0]["image"], list) and len(back[0]["image"]) == 2 and isinstance(back[1]["image"], str)
    assert (tmp_path / "lj" / back[0]["image"][0]).read_bytes() == RED  # RGB JPEG kept byte for byte
    _, again = build(tmp_path, "llava", tmp_path / "lj/train.json", name="again")
    original = load_built_dataset(tmp_path / "out")["train"]
    assert again["train"]["messages"] == original["messages"] and sizes(again["train"][0]) == sizes(original[0])
    build(tmp_path, "llava", path, name="o2", export="messages-jsonl", export_dir=str(tmp_path / "mj"))
    line = json.loads((tmp_path / "mj/train.jsonl").read_text().splitlines()[0])
    assert line["images"] == back[0]["image"]
    _, mj = build(tmp_path, "messages", tmp_path / "mj/train.jsonl", name="mj_back")
    assert sizes(mj["train"][0]) == [(24, 16), (10, 30)]
    build(tmp_path, "llava", path, name="o3", export="parquet", export_dir=str(tmp_path / "pq"))
    _, pq = build(tmp_path, "hf", tmp_path / "pq/train.parquet", name="pq_back")  # TRL form reads back as is
    assert pq["train"]["messages"] == original["messages"] and sizes(pq["train"][0]) == [(24, 16), (10, 30)]


def test_old_single_image_layout_loads_as_images(tmp_path):
    from datasets import Dataset, DatasetDict, Features, Image, List, Value

    old = Features(
        {
            "id": Value("string"),
            "image": Image(),
            "messages": List({"role": Value("string"), "content": Value("string")}),
            "task": Value("string"),
        }
    )
    ds = Dataset.from_dict(
        {
            "id": ["a", "t"],
            "image": [{"bytes": RED, "path": None}, None],
            "messages": [[{"role": "user", "content": "<image>\nQ"}], [{"role": "user", "content": "Hi"}]],
            "task": ["vqa", "conversation"],
        },
        features=old,
    )
    DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "old"))
    train = load_built_dataset(tmp_path / "old")["train"]
    assert train.column_names == ["id", "images", "messages", "task"]
    assert sizes(train[0]) == [(24, 16)] and train[1]["images"] == []
    assert load_built_dataset(tmp_path / "old")["train"]["id"] == ["a", "t"]  # a second load (cached) works


def test_captioning_a_split_with_multi_image_rows_is_a_clear_error(tmp_path, write):
    from vitcli.inference.caption import iter_dataset_items

    write("c/a.jpg", RED)
    rows = [{"id": "two", "image": ["a.jpg", "a.jpg"], "conversations": conv("<image><image> Same?", "yes")}]
    build(tmp_path, "llava", write("c/in.json", rows))
    with pytest.raises(DataError, match="multi-image rows cannot be captioned yet") as e:
        list(iter_dataset_items(str(tmp_path / "out"), "train", None))
    assert "'two'" in e.value.message and e.value.hint


def test_evaluating_a_split_with_multi_image_rows_is_a_clear_error_before_loading_a_model(tmp_path):
    from vitcli.config import EvalConfig
    from vitcli.data.build import save_splits
    from vitcli.data.records import Record
    from vitcli.evaluation.run import evaluate

    rec = Record(
        "vqa-two",
        [RED, BLUE],
        [{"role": "user", "content": "<image>\n<image>\nSame?"}, {"role": "assistant", "content": "no"}],
        "vqa",
        "test",
        answers=["no"],
    )
    save_splits({"test": [rec]}, tmp_path / "ds")
    cfg = EvalConfig(task="vqa", model=str(tmp_path / "no-model"), data=str(tmp_path / "ds"), device="cpu")
    with pytest.raises(DataError, match="multi-image rows cannot be evaluated yet") as e:
        evaluate(cfg)
    assert "1 of 1 rows" in e.value.message and "one image per question" in e.value.hint
