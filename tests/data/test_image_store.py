"""Images stored once: the content-addressed layout round-trips, --image-storage reference keeps paths and fails
clearly when a file goes, old datasets (embedded bytes, the single `image` column) still load, exports write real
image files / bytes, packing groups rows by ref, and a huge JSON array is read incrementally."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from data_helpers import conv, image_bytes, stored_images
from typer.testing import CliRunner

from vitcli.data.build import BuildConfig, SourceSpec, build_dataset, load_built_dataset, read_build_report
from vitcli.data.records import image_counts, undecoded_images
from vitcli.runtime.errors import DataError, UsageError
from vitcli.runtime.images import open_image

COLORS = [(200, 30, 40), (20, 200, 40), (20, 30, 200)]


def vqa_like(tmp_path, write, questions: int = 4) -> tuple[list[bytes], list[dict]]:
    """Three JPEGs, `questions` rows about each, ids 'i<image>q<k>'; returns (file bytes, rows)."""
    files = [image_bytes(size=(24, 16), color=c) for c in COLORS]
    for i, data in enumerate(files):
        write(f"imgs/{i}.jpg", data)
    rows = [
        {"id": f"i{i}q{k}", "image": f"{i}.jpg", "conversations": conv(f"<image>\nquestion {k}?", f"answer {k}")}
        for k in range(questions)
        for i in range(len(files))
    ]
    return files, rows


def build(tmp_path, src, name="out", **kw):
    spec = SourceSpec("llava", str(src), images=str(tmp_path / "imgs"))
    return build_dataset(BuildConfig(source="llava", out=str(tmp_path / name), sources=[spec], **kw))


def test_each_image_is_stored_once_by_content_and_rows_refer_to_it(tmp_path, write):
    files, rows = vqa_like(tmp_path, write)
    report = build(tmp_path, write("src.json", rows))
    out = tmp_path / "out"
    expected = {f"{hashlib.sha256(d).hexdigest()}.jpg": d for d in files}  # JPEGs that are RGB keep their bytes
    stored = {p.name: p.read_bytes() for p in (out / "images").rglob("*") if p.is_file()}
    assert stored == expected
    assert all(p.parent.name == p.name[:2] for p in (out / "images").rglob("*.jpg"))
    assert report.images == {"original": 12, "references": 12, **stored_images(out)}
    assert read_build_report(out)["images"]["distinct"] == 3
    meta = json.loads((out / "images.json").read_text())
    assert meta["roots"] == {} and meta["distinct"] == 3 and meta["bytes"] == sum(map(len, files))
    train = load_built_dataset(out)["train"]
    cells = train.with_format("arrow")["images"].to_pylist()
    # every cell refers to the absolute path of the stored file of its row's source image
    for row, cell in zip(rows, cells, strict=True):
        data = files[int(row["image"][0])]
        assert cell == [{"bytes": None, "path": str((out / "images").resolve() / sha_path(data))}]
    # consumers: decoded images, undecoded {bytes, path} cells holding the original bytes, counts
    raw = undecoded_images(train)
    assert raw[4]["images"][0]["bytes"] == files[1] and open_image(raw[4]["images"][0], "i1q1").size == (24, 16)
    assert train[0]["images"][0].getpixel((16, 10)) == pytest.approx(COLORS[0], abs=12)
    assert image_counts(train) == [1] * 12


def sha_path(data: bytes) -> str:
    h = hashlib.sha256(data).hexdigest()
    return f"{h[:2]}/{h}.jpg"


def test_dataset_can_move_and_rows_cut_by_max_samples_leave_no_files(tmp_path, write):
    files, rows = vqa_like(tmp_path, write, questions=1)
    build(tmp_path, write("src.json", rows), max_samples=2)
    assert stored_images(tmp_path / "out") == {"distinct": 2, "bytes": len(files[0]) + len(files[1])}
    os.rename(tmp_path / "out", tmp_path / "moved")
    train = load_built_dataset(tmp_path / "moved")["train"]
    assert undecoded_images(train)[1]["images"][0]["bytes"] == files[1]
    assert train.with_format("arrow")["images"].to_pylist()[0][0]["path"].startswith(str(tmp_path / "moved"))


def test_a_stored_file_removed_from_the_dataset_is_a_clear_error(tmp_path, write):
    files, rows = vqa_like(tmp_path, write)
    build(tmp_path, write("src.json", rows))
    (tmp_path / "out" / "images" / sha_path(files[2])).unlink()
    with pytest.raises(DataError, match=r"\(row 'i2q0' of split 'train'\) is missing") as err:
        load_built_dataset(tmp_path / "out")
    assert "1 of 3 images" in err.value.message and "rebuild" in err.value.hint


def test_reference_storage_keeps_paths_and_reports_a_file_gone_or_changed(tmp_path, write):
    files, rows = vqa_like(tmp_path, write)
    report = build(tmp_path, write("src.json", rows), image_storage="reference")
    out = tmp_path / "out"
    assert not (out / "images").exists() and report.images["referenced"] == 12
    assert report.images["distinct"] == 3 and report.images["bytes"] == sum(map(len, files))
    assert json.loads((out / "images.json").read_text())["roots"] == {"0": str((tmp_path / "imgs").resolve())}
    train = load_built_dataset(out)["train"]
    assert train.with_format("arrow")["images"].to_pylist()[5] == [
        {"bytes": None, "path": str(tmp_path / "imgs/2.jpg")}
    ]
    assert undecoded_images(train)[5]["images"][0]["bytes"] == files[2]
    # a file deleted after loading: reading its row names the row and the file
    os.rename(tmp_path / "imgs/2.jpg", tmp_path / "2.jpg")
    with pytest.raises(DataError, match=r"image '.*imgs/2.jpg' of row 'i2q1' cannot be read"):
        undecoded_images(train)[5]
    # ... and loading again stops before any work, naming the first row that uses it
    with pytest.raises(DataError, match=r"imgs/2.jpg' \(row 'i2q0' of split 'train'\) is missing") as err:
        load_built_dataset(out)
    assert "image root" in err.value.hint
    (tmp_path / "imgs/2.jpg").write_bytes(files[2] + b"\0")  # back, but not the same file
    with pytest.raises(DataError, match=r"is changed \(\d+ bytes, \d+ at build time\)"):
        load_built_dataset(out)


def test_unknown_image_storage_is_a_usage_error(tmp_path, write):
    _, rows = vqa_like(tmp_path, write, questions=1)
    with pytest.raises(UsageError, match="--image-storage"):
        build(tmp_path, write("src.json", rows), image_storage="link")


def test_cli_image_storage_reference(tmp_path, write):
    from vitcli.cli.app import app

    _, rows = vqa_like(tmp_path, write, questions=2)
    src = write("src.json", rows)
    args = ["build-dataset", "llava", str(src), "--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(app, [*args, "--image-storage", "reference", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["images"]["referenced"] == 6
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "o2"), "--image-storage", "nope"])
    assert bad.exit_code == 2 and "--image-storage" in bad.output


def old_dataset(tmp_path, files, column: str):
    """A dataset written the pre-0.2 way: bytes embedded in `images` (a list) or in a single `image` column."""
    from datasets import Dataset, DatasetDict, Features, Image, List, Value

    image = List(Image()) if column == "images" else Image()
    cells = [{"bytes": d, "path": None} for d in files]
    feats = Features(
        {
            "id": Value("string"),
            column: image,
            "messages": List({"role": Value("string"), "content": Value("string")}),
            "task": Value("string"),
            "references": List(Value("string")),
            "answers": List(Value("string")),
            "answer_type": Value("string"),
            "question_type": Value("string"),
            "source": Value("string"),
        }
    )
    n = len(files)
    ds = Dataset.from_dict(
        {
            "id": [f"r{i}" for i in range(n)],
            column: [[c] for c in cells] if column == "images" else cells,
            "messages": [[{"role": "user", "content": "<image>\nq"}, {"role": "assistant", "content": "a"}]] * n,
            "task": ["vqa"] * n,
            "references": [[]] * n,
            "answers": [["a"]] * n,
            "answer_type": ["other"] * n,
            "question_type": [None] * n,
            "source": ["old"] * n,
        },
        features=feats,
    )
    DatasetDict({"train": ds}).save_to_disk(str(tmp_path / f"old-{column}"))
    return tmp_path / f"old-{column}"


@pytest.mark.parametrize("column", ["images", "image"])
def test_old_datasets_with_embedded_bytes_still_load_and_export(tmp_path, column):
    from vitcli.data.export import export_dataset

    files = [image_bytes(size=(24, 16), color=c) for c in COLORS]
    path = old_dataset(tmp_path, files, column)
    dd = load_built_dataset(path)
    raw = undecoded_images(dd["train"])
    assert [r["images"][0]["bytes"] for r in raw] == files and image_counts(dd["train"]) == [1, 1, 1]
    export_dataset(dd, "llava-json", tmp_path / "exp")
    items = json.loads((tmp_path / "exp" / "train.json").read_text())
    assert [(tmp_path / "exp" / it["image"]).read_bytes() for it in items] == files


def test_exports_write_image_files_and_embedded_parquet(tmp_path, write):
    import pyarrow.parquet as pq

    from vitcli.data.export import export_dataset

    files, rows = vqa_like(tmp_path, write, questions=2)
    build(tmp_path, write("src.json", rows), image_storage="reference")
    dd = load_built_dataset(tmp_path / "out")
    export_dataset(dd, "llava-json", tmp_path / "lj")
    items = json.loads((tmp_path / "lj" / "train.json").read_text())
    assert [(tmp_path / "lj" / it["image"]).read_bytes() for it in items] == [files[int(r["image"][0])] for r in rows]
    assert len(list((tmp_path / "lj" / "images").iterdir())) == 3  # shared images written once
    export_dataset(dd, "parquet", tmp_path / "pq")
    table = pq.read_table(str(tmp_path / "pq" / "train.parquet")).to_pylist()
    assert [t["images"] for t in table] == [[{"bytes": files[int(r["image"][0])], "path": None}] for r in rows]


def test_packing_groups_rows_by_their_stored_image(tmp_path, write):
    from vitcli.training.collate import group_by_image

    _, rows = vqa_like(tmp_path, write, questions=3)
    rows.append({"id": "text", "conversations": conv("hello", "hi")})
    build(tmp_path, write("src.json", rows))
    train = undecoded_images(load_built_dataset(tmp_path / "out")["train"])
    groups = group_by_image(train, max_turns=2)
    # oracle: rows grouped by the source file name they came from, in order, split into pairs
    by_file: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_file.setdefault(r.get("image", f"alone-{i}"), []).append(i)
    expected = [m[s : s + 2] for m in by_file.values() for s in range(0, len(m), 2)]
    assert sorted(groups) == sorted(expected)


@pytest.mark.parametrize("storage", ["copy", "reference"])
def test_a_vitcli_dataset_imports_through_build_dataset_hf(tmp_path, write, storage):
    files, rows = vqa_like(tmp_path, write, questions=2)
    build(tmp_path, write("src.json", rows), image_storage=storage)
    spec = SourceSpec("hf", str(tmp_path / "out"))
    report = build_dataset(BuildConfig(source="hf", out=str(tmp_path / "again"), sources=[spec]))
    assert not report.rejected  # the rows' refs resolve (a referenced image lives outside the dataset)
    again = load_built_dataset(tmp_path / "again")["train"]
    assert sorted(r["images"][0]["bytes"] for r in undecoded_images(again)) == sorted(files * 2)
