"""`vitcli eval --report FILE.html`: the pure renderer (escaping, order, thumbnails, file-scored tasks without
images, row cap), the CLI on a tiny run and on prediction files, and (slow) a headless Chromium screenshot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vitcli.cli.app import app
from vitcli.evaluation.html_report import make_thumbnail, render_html_report, select_rows
from vitcli.evaluation.report import EvalReport

EVIL = '<script>alert("x")</script> & </td>'


class _Page(HTMLParser):
    """Collects text, tags and img srcs, to check what a browser would show rather than the raw source."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.imgs: list[str] = []
        self.scores: list[float] = []
        self._in_score = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        self._in_score = tag == "td" and "score" in (a.get("class") or "").split()

    def handle_data(self, data):
        self.text.append(data)
        if self._in_score and data != "–":  # "–": no score
            self.scores.append(float(data))
            self._in_score = False


def _vqa_report() -> EvalReport:
    rows = [
        {"id": "q1", "prediction": "yes", "score": 1.0, "answers": ["yes"] * 10, "question": "is it?"},
        {"id": "q2", "prediction": EVIL, "score": 0.0, "answers": ["red"] * 7 + [EVIL] * 3, "question": EVIL},
        {
            "id": "q3",
            "prediction": "2",
            "score": 0.6,
            "answers": ["2", "2", "3"],
            "question": "how many?",
            "answer_type": "number",
        },
        {"id": "q4", "prediction": None, "score": None, "answers": ["no"], "question": "missing?"},
    ]
    metrics = {"overall": 53.33, "perAnswerType": {"yes/no": 100.0, "number": 60.0}}
    return EvalReport("vqa", metrics, 4, {"vitcli_version": "0.x", "model": EVIL, "generation": {"a": 1}}, rows)


def _png(w: int, h: int, color=(200, 40, 40)) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def test_escapes_data_sorts_worst_first_and_embeds_thumbnails() -> None:
    report = _vqa_report()
    thumbs = {"q1": make_thumbnail(_png(300, 200)), "q2": make_thumbnail(_png(40, 40)), "nope": b"junk"}
    page = render_html_report(report, thumbs)
    parsed = _Page(page)
    # the prediction, question, answers and provenance holding <script> show as text, never as markup
    assert "script" not in parsed.tags and "<script" not in page
    assert sum(EVIL in t for t in parsed.text) >= 4
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;/td&gt;" in page
    # self-contained: no external URLs, only data URIs
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "http" not in page
    assert len(parsed.imgs) == 2 and all(s.startswith("data:image/") for s in parsed.imgs)
    # worst first: a missing score counts as worst, then 0, 0.6, 1
    assert [r["id"] for r in select_rows(report)] == ["q4", "q2", "q3", "q1"]
    ids = re.findall(r'<td class="id">(q\d)</td>', page)
    assert ids == ["q4", "q2", "q3", "q1"]
    assert "53.33" in page and "perAnswerType" in page and "(missing)" in page
    assert parsed.scores == [0.0, 0.6, 1.0]  # and q4's missing score shows as "–"
    assert "red <span" in page and "×7" in page  # repeated human answers counted


def test_thumbnail_is_small_png_or_jpeg() -> None:
    import io

    for size in [(400, 300), (30, 90), (128, 128)]:
        data = make_thumbnail(_png(*size))
        assert data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"
        w, h = Image.open(io.BytesIO(data)).size
        assert max(w, h) <= 128 and max(w, h) == min(128, max(size))


def test_file_scored_tasks_without_images_and_row_cap() -> None:
    cap = EvalReport(
        "caption",
        {"Bleu_4": 0.25, "CIDEr": 1.1},
        5,
        {"scorer": "pycocoevalcap"},
        [
            {
                "id": i,
                "prediction": f"p{i}",
                "score": float(i),
                "scores": {"CIDEr": float(i), "Bleu_1": 0.5},
                "references": [f"ref {i}", "a cat"],
            }
            for i in range(5)
        ],
    )
    page = render_html_report(cap, None, max_rows=2)
    assert "<img" not in page and "<th>image</th>" not in page and "<th>references</th>" in page
    assert "the worst 2 of 5 items" in page and "ref 0" in page and "ref 1" in page and "ref 4" not in page
    assert "CIDEr 1 · Bleu_1 0.5" in page  # per-image metrics in the details column
    pope = EvalReport(
        "pope",
        {"accuracy": 0.5},
        2,
        {},
        [
            {"id": "a", "prediction": "Yes", "parsed": "yes", "score": 1.0, "label": "yes"},
            {"id": "b", "prediction": "", "parsed": "no", "score": 0.0, "label": "yes"},
        ],
    )
    page = render_html_report(pope)
    assert "<th>label</th>" in page and "(empty)" in page and '<li class="match">yes</li>' in page
    assert "No per-item scores" in render_html_report(EvalReport("gqa", {"accuracy": 0.0}, 0))


def _eval(args: list[str]):
    return CliRunner().invoke(app, ["eval", *args])


def test_cli_report_from_model(tiny_run: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    res = _eval(
        [
            "--model",
            str(tiny_run),
            "--data",
            str(tiny_dataset),
            "--task",
            "vqa",
            "--report",
            str(out),
            "--per-item",
            str(tmp_path / "items.jsonl"),
            "--max-new-tokens",
            "3",
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    page = out.read_text(encoding="utf-8")
    parsed = _Page(page)
    assert len(items) > 0 and len(parsed.imgs) == len(items)
    assert all(s.startswith("data:image/") for s in parsed.imgs)
    assert parsed.scores == sorted(parsed.scores) and len(parsed.scores) == len(items)
    assert f"{summary['metrics']['overall']:.4g}" in page
    assert str(tiny_run) in page  # provenance
    assert "<th>question</th>" in page and "<image>" not in page  # the question asked, from the prompt
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # atomic: no temp file left


def test_cli_report_from_prediction_files_escapes(tmp_path: Path) -> None:
    def write(name: str, obj: object) -> str:
        (tmp_path / name).write_text(json.dumps(obj), encoding="utf-8")
        return str(tmp_path / name)

    anns = [
        {
            "question_id": q,
            "image_id": 7,
            "answer_type": "other",
            "question_type": "what",
            "answers": [{"answer": a} for a in ans],
        }
        for q, ans in [(1, ["red"] * 10), (2, ["blue"] * 10)]
    ]
    args = [
        "--task",
        "vqa",
        "--annotations",
        write("a.json", {"annotations": anns}),
        "--questions",
        write("q.json", {"questions": [{"question_id": q, "question": f"q{q}?"} for q in (1, 2)]}),
        "--predictions",
        write("p.json", [{"question_id": 1, "answer": "red"}, {"question_id": 2, "answer": EVIL}]),
        "--report",
        str(tmp_path / "r.html"),
    ]
    res = _eval(args)
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    parsed = _Page(page)
    assert "script" not in parsed.tags and EVIL in parsed.text and not parsed.imgs
    assert parsed.scores == [0.0, 1.0]


@pytest.mark.slow
def test_chromium_renders_report(tmp_path: Path) -> None:
    """The page renders in a real browser to a non-blank screenshot (run with -m slow)."""
    import io

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not on PATH (apt-get install -y chromium)")
    report = _vqa_report()
    colors = [(220, 50, 50), (40, 160, 70), (40, 80, 200), (230, 200, 40)]
    thumbs = {f"q{i + 1}": make_thumbnail(_png(160, 120, c)) for i, c in enumerate(colors)}
    html_path = tmp_path / "report.html"
    html_path.write_text(render_html_report(report, thumbs), encoding="utf-8")
    png = tmp_path / "shot.png"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        "--window-size=1200,1600",
        html_path.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 20_000, proc.stderr[-2000:]
    img = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
    assert img.size == (1200, 1600)
    small = img.resize((120, 160))
    colors_seen = set(small.getdata())
    assert len(colors_seen) > 50  # text, cards, thumbnails: not a blank page
    # the thumbnails are drawn: their flat colours appear in the screenshot
    pixels = set(img.getdata())
    assert all(any(sum(abs(a - b) for a, b in zip(c, p, strict=True)) < 30 for p in pixels) for c in colors)
