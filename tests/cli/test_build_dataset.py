"""`vitcli build-dataset ...` through CliRunner: exit codes, parsed --json, error + hint rendering."""

from __future__ import annotations

import io
import json

from PIL import Image
from typer.testing import CliRunner

from vitcli.cli.app import app


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 200, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def llava_source(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs/a.jpg").write_bytes(jpeg())
    rows = [
        {
            "id": str(i),
            "image": "a.jpg" if i % 3 else "missing.jpg",
            "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": f"A{i}"}],
        }
        for i in range(10)
    ]
    (tmp_path / "src.json").write_text(json.dumps(rows), encoding="utf-8")
    return tmp_path / "src.json"


def invoke(*args):
    return CliRunner().invoke(app, ["build-dataset", *map(str, args)])


def test_llava_json_output_and_export(tmp_path):
    src = llava_source(tmp_path)
    res = invoke(
        "llava",
        src,
        "--images",
        tmp_path / "imgs",
        "--out",
        tmp_path / "out",
        "--val-ratio",
        "0.2",
        "--json",
        "--export",
        "llava-json",
        tmp_path / "exp",
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout.strip().splitlines()[-1])
    assert obj["counts"] == {"train": 5, "validation": 1} and obj["num_rejected"] == 4
    assert obj["rejected_by_reason"] == {"image not found": 4} and obj["vitcli_version"]
    assert obj["export"]["files"] == {"train.json": 5, "validation.json": 1}
    assert (tmp_path / "out/build_report.json").is_file() and (tmp_path / "exp/images").is_dir()


def test_table_output_and_overwrite_refusal(tmp_path):
    src = llava_source(tmp_path)
    res = invoke("llava", src, "--images", tmp_path / "imgs", "--out", tmp_path / "out")
    assert res.exit_code == 0 and "image not found" in res.stdout and "train" in res.stdout
    res = invoke("llava", src, "--images", tmp_path / "imgs", "--out", tmp_path / "out")
    assert res.exit_code == 1 and "already exists" in res.stderr and "Hint: pass --overwrite" in res.stderr


def test_strict_error_is_one_line_with_hint(tmp_path):
    src = llava_source(tmp_path)
    res = invoke("llava", src, "--images", tmp_path / "imgs", "--out", tmp_path / "out", "--strict")
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        "Error: image not found: 'missing.jpg' (row 1 of src.json)",
        "Hint: fix that row, or drop --strict to skip bad rows and list them in build_report.json",
    ]
    assert not (tmp_path / "out").exists()


def test_imagefolder_with_column_mapping_and_max_samples(tmp_path):
    (tmp_path / "f").mkdir()
    for i in range(4):
        (tmp_path / f"f/{i}.jpg").write_bytes(jpeg())
    (tmp_path / "f/metadata.csv").write_text("file_name,desc\n" + "".join(f"{i}.jpg,pic {i}\n" for i in range(4)))
    res = invoke(
        "imagefolder",
        tmp_path / "f",
        "--column",
        "desc=caption",
        "--out",
        tmp_path / "out",
        "--max-samples",
        "3",
        "--num-proc",
        "2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["counts"] == {"train": 3}


def test_usage_errors_exit_2_and_bad_column_exits_1(tmp_path):
    assert invoke("llava", "x.json").exit_code == 2  # --out missing
    assert invoke("llava", "x.json", "--out", tmp_path / "o", "--num-proc", "0").exit_code == 2
    res = invoke("imagefolder", tmp_path, "--column", "desc", "--out", tmp_path / "o")
    assert res.exit_code == 1 and "bad --column 'desc'" in res.stderr
    res = invoke("llava", tmp_path / "nope.json", "--out", tmp_path / "o")
    assert res.exit_code == 1 and "not found" in res.stderr


def test_mix_and_vqav2_commands(tmp_path):
    src = llava_source(tmp_path)
    (tmp_path / "mix.yaml").write_text(f"sources:\n  - {{kind: llava, path: {src.name}, images: imgs, ratio: 1}}\n")
    res = invoke("mix", tmp_path / "mix.yaml", "--out", tmp_path / "m", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["counts"] == {"train": 6}
    (tmp_path / "q.json").write_text(
        json.dumps(
            {
                "data_subtype": "test2015",
                "questions": [{"image_id": 5, "question": "What?", "question_id": 50}],
            }
        )
    )
    (tmp_path / "test2015").mkdir()
    (tmp_path / "test2015/COCO_test2015_000000000005.jpg").write_bytes(jpeg())
    res = invoke("vqav2", "--questions", tmp_path / "q.json", "--out", tmp_path / "v", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["counts"] == {"test": 1}


def test_synthetic_still_works(tmp_path):
    res = invoke(
        "synthetic",
        "--out",
        tmp_path / "s",
        "--num-train",
        "2",
        "--num-val",
        "1",
        "--num-test",
        "1",
        "--image-size",
        "16",
        "--json",
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["counts"] == {
        "train": 10,
        "validation": 5,
        "test": 5,
    }
