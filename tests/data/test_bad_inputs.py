"""The bad-input matrix: each broken input gets its documented outcome, and the kept-row count is exact.
Outcomes: a bad row is rejected with '<kind>: <detail>' (file + row in build_report.json) while its
neighbours are kept; a bad image mode is converted and kept; a file that cannot be a source at all
(wrong top-level type, undecodable JSON document, no rows) is a one-line DataError."""

from __future__ import annotations

import io
import json
import os

import pytest
from data_helpers import conv, decode, image_bytes, png_header_only
from PIL import Image

from vitcli.data.build import BuildConfig, SourceSpec, build_dataset, load_built_dataset, read_build_report
from vitcli.runtime.errors import DataError

GOOD = [
    {"id": "g1", "image": "ok.jpg", "conversations": conv("<image>\nQ", "A")},
    {"id": "g2", "conversations": conv("text only", "fine")},
]


def noise_jpeg(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def row(image: str | None = "bad.jpg", q: str = "<image>\nQ", a: str = "A", rid: str = "bad") -> dict:
    return {"id": rid, **({"image": image} if image else {}), "conversations": conv(q, a)}


def sixteen_bit_png() -> bytes:
    buf = io.BytesIO()
    Image.new("I;16", (8, 8), 40000).save(buf, format="PNG")
    return buf.getvalue()


# name -> (file bytes for bad.jpg or None, the bad row, expected: reason kind to reject, or "keep")
ROW_CASES = {
    "missing image": (None, row(), "image not found"),
    "truncated jpeg": (noise_jpeg()[:1500], row(), "image unreadable"),
    "zero-byte file": (b"", row(), "image unreadable"),
    "text file named .jpg": (b"hello, I am not a JPEG\n", row(), "image unreadable"),
    "40000x40000 png header": (png_header_only(40000, 40000), row(), "image too large"),
    "dotdot path": (None, row("../../etc/passwd"), "image path escapes image root"),
    "absolute path": (None, row("/etc/passwd"), "image path escapes image root"),
    "two image tags": (image_bytes(), row(q="<image>\n<image>\nQ"), "image tag count"),
    "tag in a text-only row": (None, row(None, q="<image> hi"), "image tag count"),
    "tag in a later turn": (
        image_bytes(),
        {**row(), "conversations": conv("<image>", "a") + conv("<image>", "b")},
        "image tag count",
    ),
    "empty answer": (image_bytes(), row(a="  "), "empty answer"),
    "duplicate id": (image_bytes(), row(rid="g1"), "duplicate id"),
    "unknown speaker": (
        None,
        {"id": "bad", "conversations": [{"from": "bot", "value": "x"}]},
        "malformed row",
    ),
    "row is not an object": (None, 42, "malformed row"),
    "lone surrogate": (None, row(None, q="bad \ud800 text"), "invalid utf-8"),
    "cmyk jpeg": (image_bytes(mode="CMYK"), row(), "keep"),
    "16-bit png": (sixteen_bit_png(), row(), "keep"),
    "rgba png": (image_bytes("PNG", "RGBA"), row(), "keep"),
    "palette png": (image_bytes("PNG", "P"), row(), "keep"),
}


@pytest.mark.parametrize("name", list(ROW_CASES))
def test_bad_row_matrix(tmp_path, name):
    data, bad, expected = ROW_CASES[name]
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs/ok.jpg").write_bytes(image_bytes())
    if data is not None:
        (tmp_path / "imgs/bad.jpg").write_bytes(data)
    (tmp_path / "src.json").write_text(json.dumps([GOOD[0], bad, GOOD[1]]), encoding="utf-8")
    report = build_dataset(
        BuildConfig(
            source="llava",
            out=str(tmp_path / "out"),
            sources=[SourceSpec("llava", str(tmp_path / "src.json"), images=str(tmp_path / "imgs"))],
        )
    )
    saved = read_build_report(tmp_path / "out")
    if expected == "keep":
        assert report.num_kept == 3 and saved["rejected"] == []
        kept = load_built_dataset(tmp_path / "out")["train"][1]["images"][0]
        assert kept.mode == "RGB"
        if name == "16-bit png":
            assert kept.getpixel((0, 0)) == (156, 156, 156)  # 40000 / 256, not clipped to white
    else:
        assert report.num_kept == 2
        assert saved["rejected"] == [{"source": "src.json", "row": 2, "reason": saved["rejected"][0]["reason"]}]
        assert saved["rejected"][0]["reason"].startswith(expected + ":")
        assert saved["rejected_by_reason"] == {expected: 1}


def test_exif_orientation_is_applied(tmp_path, write):
    write("imgs/r.jpg", image_bytes(size=(30, 10), exif_orientation=6))  # rotate 90 degrees on display
    write("src.json", [row("r.jpg")])
    report = build_dataset(
        BuildConfig(
            source="llava",
            out=str(tmp_path / "out"),
            sources=[SourceSpec("llava", str(tmp_path / "src.json"), images=str(tmp_path / "imgs"))],
        )
    )
    img = load_built_dataset(tmp_path / "out")["train"][0]["images"][0]
    stored = next((tmp_path / "out" / "images").rglob("*.png"))
    assert img.size == (10, 30) and report.images == {
        "png": 1,
        "references": 1,
        "distinct": 1,
        "bytes": stored.stat().st_size,
    }


def jsonl_build(tmp_path, payload: bytes, **kw):
    (tmp_path / "imgs").mkdir(exist_ok=True)
    (tmp_path / "imgs/ok.jpg").write_bytes(image_bytes())
    (tmp_path / "src.jsonl").write_bytes(payload)
    return build_dataset(
        BuildConfig(
            source="llava",
            out=str(tmp_path / "out"),
            **kw,
            sources=[SourceSpec("llava", str(tmp_path / "src.jsonl"), images=str(tmp_path / "imgs"))],
        )
    )


def test_malformed_jsonl_line_is_rejected_with_its_line_number(tmp_path):
    lines = [
        json.dumps(GOOD[0]).encode(),
        b"",
        b'{"id": "x", "conversations": [',
        json.dumps(GOOD[1]).encode(),
    ]
    report = jsonl_build(tmp_path, b"\n".join(lines) + b"\n")
    assert report.num_kept == 2
    assert [(r.row, r.reason.split(":")[0]) for r in report.rejected] == [(3, "malformed row")]
    assert "line 3" in report.rejected[0].reason


def test_non_utf8_jsonl_line_is_rejected_and_json_document_is_an_error(tmp_path):
    bad = json.dumps(row(None, q="caf\u00e9")).encode().replace(b"\\u00e9", b"\xe9")
    report = jsonl_build(tmp_path, json.dumps(GOOD[0]).encode() + b"\n" + bad + b"\n")
    assert (
        report.num_kept == 1 and report.rejected[0].row == 2 and report.rejected[0].reason.startswith("invalid utf-8")
    )
    (tmp_path / "doc.json").write_bytes(b'[{"id": "caf\xe9"}]')
    with pytest.raises(DataError, match="not valid UTF-8"):
        build_dataset(
            BuildConfig(
                source="llava",
                out=str(tmp_path / "o2"),
                sources=[SourceSpec("llava", str(tmp_path / "doc.json"))],
            )
        )


@pytest.mark.parametrize(
    "payload,match",
    [
        (b'{"data": []}', "expected a list"),
        (b"[]", "has no rows"),
        (b"", "has no rows"),
        (b"[1, 2", "not valid JSON"),
    ],
)
def test_whole_source_errors(tmp_path, payload, match):
    (tmp_path / "src.json").write_bytes(payload)
    with pytest.raises(DataError, match=match):
        build_dataset(
            BuildConfig(
                source="llava",
                out=str(tmp_path / "out"),
                sources=[SourceSpec("llava", str(tmp_path / "src.json"))],
            )
        )
    assert not (tmp_path / "out").exists()


def test_all_rows_rejected_is_an_error_and_strict_stops_at_first_bad_row(tmp_path):
    lines = [json.dumps(row("missing1.jpg", rid="a")), json.dumps(row("missing2.jpg", rid="b"))]
    with pytest.raises(DataError, match="no rows kept: all 2 rows were rejected"):
        jsonl_build(tmp_path, "\n".join(lines).encode())
    payload = "\n".join([json.dumps(GOOD[0]), json.dumps(row("nope.jpg"))]).encode()
    with pytest.raises(DataError, match=r"image not found: 'nope.jpg' \(row 2 of src.jsonl\)"):
        jsonl_build(tmp_path, payload, strict=True)
    assert not (tmp_path / "out").exists()


def test_pixel_cap_is_configurable(tmp_path, write):
    write("imgs/big.png", image_bytes("PNG", size=(100, 100)))
    write("src.json", [row("big.png")] + [GOOD[1]])
    report = build_dataset(
        BuildConfig(
            source="llava",
            out=str(tmp_path / "out"),
            max_pixels=5000,
            sources=[SourceSpec("llava", str(tmp_path / "src.json"), images=str(tmp_path / "imgs"))],
        )
    )
    assert report.num_kept == 1 and "100x100" in report.rejected[0].reason
    assert decode(image_bytes("PNG", size=(10, 10))).size == (10, 10)
