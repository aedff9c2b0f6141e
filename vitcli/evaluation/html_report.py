"""`vitcli eval --report FILE.html`: an EvalReport as one self-contained HTML page — metric summary with
provenance, score distribution, then per-item rows (thumbnail, prediction, references/answers, score) worst
first. The renderer is pure (report + thumbnail bytes in, a string out): every value from data is
HTML-escaped, images are base64 data URIs, no external assets and no JavaScript. No torch import."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vitcli.evaluation.report import EvalReport
from vitcli.runtime.io import atomic_write

MAX_ROWS = 1000  # worst rows shown; keeps a 200k-question report a few MB
THUMB_PX = 128
# per-item keys rendered in their own columns; anything else goes to "details"
_OWN_COLUMNS = {"id", "prediction", "score", "question", "answers", "references", "answer", "label"}
_REF_COLUMN = {"caption": "references", "vqa": "answers", "pope": "label"}  # default: "answer"
_SCORE_LABEL = {"caption": "score (CIDEr)"}  # default: "score"


def select_rows(report: EvalReport, max_rows: int = MAX_ROWS) -> list[dict[str, Any]]:
    """Per-item rows worst first (stable: ties keep scoring order; missing/NaN scores count as worst)."""
    return sorted(report.per_item, key=_score_key)[:max_rows]


def make_thumbnail(image: Any, max_px: int = THUMB_PX) -> bytes:
    """A PIL image -> PNG or JPEG bytes (whichever is smaller), at most max_px on its longer side."""
    img = image.copy()
    img.thumbnail((max_px, max_px))
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    encoded = []
    for fmt, kw in (("PNG", {"optimize": True}), ("JPEG", {"quality": 85})):
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        encoded.append(buf.getvalue())
    return min(encoded, key=len)


def write_html_report(
    path: str | Path,
    report: EvalReport,
    thumbnails: Mapping[Any, bytes] | None = None,
    max_rows: int = MAX_ROWS,
) -> None:
    with atomic_write(path) as f:
        f.write(render_html_report(report, thumbnails, max_rows=max_rows))


def render_html_report(
    report: EvalReport, thumbnails: Mapping[Any, bytes] | None = None, *, max_rows: int = MAX_ROWS
) -> str:
    rows = select_rows(report, max_rows)
    thumbs = thumbnails or {}
    total = len(report.per_item)
    shown = f"all {total} items" if len(rows) == total else f"the worst {len(rows)} of {total} items"
    parts = [
        _HEAD.replace("{title}", _esc(f"vitcli eval · {report.task}")),
        f"<h1>vitcli eval · {_esc(report.task)}</h1>",
        f'<p class="sub">{_esc(report.num_scored)} scored · showing {shown}, worst first</p>',
        "<h2>Metrics</h2>",
        _metrics_html(report.metrics),
        "<details open><summary>Provenance</summary>",
        _kv_table(report.provenance),
        "</details>",
        _histogram_html([_score_of(r) for r in report.per_item]),
        _items_html(report.task, rows, thumbs),
        "</body></html>\n",
    ]
    return "\n".join(parts)


# ---- pieces ---------------------------------------------------------------------------------------------


def _metrics_html(metrics: Mapping[str, Any]) -> str:
    cards = [
        f'<div class="card"><div class="k">{_esc(k)}</div><div class="v">{_esc(_fmt(v))}</div></div>'
        for k, v in metrics.items()
        if not isinstance(v, Mapping)
    ]
    nested = [
        f'<div class="sub-metrics"><h3>{_esc(k)}</h3>{_kv_table(v, numeric=True)}</div>'
        for k, v in metrics.items()
        if isinstance(v, Mapping)
    ]
    return f'<div class="cards">{"".join(cards)}</div><div class="nested">{"".join(nested)}</div>'


def _kv_table(d: Mapping[str, Any], numeric: bool = False) -> str:
    if not d:
        return '<p class="muted">(none)</p>'
    cls = ' class="num"' if numeric else ""
    body = "".join(f"<tr><th>{_esc(k)}</th><td{cls}>{_value_html(v)}</td></tr>" for k, v in d.items())
    return f'<table class="kv">{body}</table>'


def _value_html(v: Any) -> str:
    if isinstance(v, (Mapping, list, tuple)):
        return f"<code>{_esc(json.dumps(v, ensure_ascii=False, default=str))}</code>"
    return _esc(_fmt(v))


def _histogram_html(scores: list[float], bins: int = 10) -> str:
    finite = [s for s in scores if math.isfinite(s)]
    if not finite:
        return ""
    lo, hi = min(0.0, min(finite)), max(1.0, max(finite))
    counts = [0] * bins
    for s in finite:
        counts[min(bins - 1, int((s - lo) / (hi - lo) * bins))] += 1
    top = max(counts)
    edges = [_esc(_fmt(lo + i * (hi - lo) / bins)) for i in range(bins + 1)]
    bars = "".join(
        f'<div class="bar" title="{edges[i]}–{edges[i + 1]}: {c}">'
        f'<span class="n">{c}</span><span class="fill" style="height:{round(100 * c / top)}%;'
        f'background:{_score_color(i + 0.5, 0, bins)}"></span></div>'
        for i, c in enumerate(counts)
    )
    return (
        f'<h2>Per-item score distribution</h2><div class="hist">{bars}</div>'
        f'<div class="axis"><span>{_esc(_fmt(lo))}</span><span>{_esc(_fmt(hi))}</span></div>'
    )


def _items_html(task: str, rows: list[dict[str, Any]], thumbs: Mapping[Any, bytes]) -> str:
    if not rows:
        return '<h2>Items</h2><p class="muted">No per-item scores.</p>'
    ref_key = _REF_COLUMN.get(task, "answer")
    with_images = any(_thumb_uri(thumbs, r.get("id")) for r in rows)
    with_question = any(r.get("question") for r in rows)
    scores = [s for s in (_score_of(r) for r in rows) if math.isfinite(s)]
    lo, hi = min([0.0, *scores]), max([1.0, *scores])
    head = [
        "#",
        *(["image"] if with_images else []),
        "id",
        *(["question"] if with_question else []),
        "prediction",
        ref_key,
        _SCORE_LABEL.get(task, "score"),
        "details",
    ]
    out = ['<h2>Items</h2><table class="items"><thead><tr>']
    out += [f"<th>{_esc(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for rank, r in enumerate(rows, 1):
        s = _score_of(r)
        cells = [f'<td class="num">{rank}</td>']
        if with_images:
            uri = _thumb_uri(thumbs, r.get("id"))
            img = f'<img src="{uri}" alt="{_esc(r.get("id"))}">' if uri else ""
            cells.append(f'<td class="img">{img}</td>')
        cells.append(f'<td class="id">{_esc(r.get("id"))}</td>')
        if with_question:
            cells.append(f'<td class="text">{_text_html(r.get("question"))}</td>')
        cells.append(f'<td class="text pred">{_text_html(r.get("prediction"))}</td>')
        cells.append(f"<td>{_refs_html(r.get(ref_key, r.get('answer')), r.get('prediction'))}</td>")
        color = _score_color(s, lo, hi) if math.isfinite(s) else "#ddd"
        cells.append(f'<td class="num score" style="background:{color}">{_esc(_fmt(r.get("score")) or "–")}</td>')
        cells.append(f'<td class="details">{_details_html(r)}</td>')
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _text_html(v: Any) -> str:
    if v is None:
        return '<em class="muted">(missing)</em>'
    if isinstance(v, str) and not v.strip():
        return '<em class="muted">(empty)</em>'
    return _esc(v)


def _refs_html(refs: Any, prediction: Any) -> str:
    """References as a list; repeated answers (VQA's 10 annotators) counted; exact matches highlighted."""
    if refs is None:
        return ""
    if not isinstance(refs, (list, tuple)):
        refs = [refs]
    pred = str(prediction).strip().lower() if prediction is not None else None
    items = []
    for ref, n in Counter(str(x) for x in refs).most_common():
        cls = ' class="match"' if pred is not None and ref.strip().lower() == pred else ""
        count = f' <span class="muted">×{n}</span>' if n > 1 else ""
        items.append(f"<li{cls}>{_esc(ref)}{count}</li>")
    return f'<ul class="refs">{"".join(items)}</ul>'


def _details_html(row: Mapping[str, Any]) -> str:
    parts = []
    for k, v in row.items():
        if k in _OWN_COLUMNS or v is None:
            continue
        if isinstance(v, Mapping):  # e.g. caption per-image scores {Bleu_1: .., CIDEr: ..}
            inner = " · ".join(f"{_esc(kk)} {_esc(_fmt(vv))}" for kk, vv in v.items())
            parts.append(f"<div><b>{_esc(k)}</b>: {inner}</div>")
        elif isinstance(v, (list, tuple)):
            parts.append(f"<div><b>{_esc(k)}</b>: {_esc(' | '.join(map(str, v)))}</div>")
        else:
            parts.append(f"<div><b>{_esc(k)}</b>: {_esc(_fmt(v))}</div>")
    return "".join(parts)


# ---- helpers ----------------------------------------------------------------------------------------------


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, float):
        return "" if v is None else str(v)
    if not math.isfinite(v):
        return str(v)
    return f"{v:.1f}" if abs(v) >= 1000 else f"{v:.4g}"


def _score_of(row: Mapping[str, Any]) -> float:
    try:
        s = float(row.get("score"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return s


def _score_key(row: Mapping[str, Any]) -> float:
    s = _score_of(row)
    return s if not math.isnan(s) else float("-inf")


def _score_color(s: float, lo: float, hi: float) -> str:
    t = 0.5 if hi <= lo else max(0.0, min(1.0, (s - lo) / (hi - lo)))
    return f"hsl({round(120 * t)},70%,80%)"  # red (worst) -> green (best)


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


def _thumb_uri(thumbs: Mapping[Any, bytes], item_id: Any) -> str | None:
    data = thumbs.get(item_id)
    if data is None:
        data = thumbs.get(str(item_id))
    if not data:
        return None
    mime = next((m for magic, m in _MAGIC if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:  # unknown bytes are not embedded under a guessed type
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{margin:0 0 4px;font-size:24px} h2{margin:28px 0 10px;font-size:18px} h3{margin:4px 0;font-size:14px}
.sub,.muted{color:#6b7280}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid #d9dee7;border-radius:8px;padding:10px 16px;min-width:110px}
.card .k{color:#6b7280;font-size:12px} .card .v{font-size:22px;font-weight:600}
.nested{display:flex;flex-wrap:wrap;gap:18px;margin-top:12px}
table{border-collapse:collapse;background:#fff}
.kv th,.kv td{border:1px solid #e3e7ee;padding:3px 8px;text-align:left;vertical-align:top}
.kv th{font-weight:500;color:#374151;background:#f3f5f8}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
details{margin-top:18px} summary{cursor:pointer;font-weight:600;font-size:16px;margin-bottom:8px}
.hist{display:flex;align-items:flex-end;gap:4px;height:120px;max-width:640px;border-bottom:1px solid #9ca3af}
.bar{flex:1;height:100%;display:flex;flex-direction:column;justify-content:flex-end;align-items:center}
.bar .fill{width:100%;border-radius:3px 3px 0 0;min-height:1px} .bar .n{font-size:11px;color:#6b7280}
.axis{display:flex;justify-content:space-between;max-width:640px;font-size:12px;color:#6b7280}
table.items{width:100%;border:1px solid #d9dee7}
.items th{position:sticky;top:0;background:#eef1f5;text-align:left;padding:6px 8px;
  border-bottom:2px solid #cfd5df}
.items td{padding:6px 8px;border-bottom:1px solid #e3e7ee;vertical-align:top}
.items td.img img{width:128px;height:128px;object-fit:contain;image-rendering:pixelated;
  background:#eee;border-radius:4px}
.items td.id{font:12px ui-monospace,monospace;color:#4b5563;word-break:break-all;max-width:180px}
.items td.text{white-space:pre-wrap;word-break:break-word;max-width:360px}
.items td.pred{font-weight:500}
.items td.score{font-weight:600;white-space:nowrap}
.items td.details{font-size:12px;color:#4b5563;max-width:260px}
ul.refs{margin:0;padding-left:18px} ul.refs li.match{font-weight:700;color:#166534}
</style></head><body>"""
