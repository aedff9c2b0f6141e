"""`vitcli eval --task text`: parse into a TextEvalConfig, run evaluation.text_retention, render base vs tuned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vitcli.cli import output


def eval_text(
    model: str | None,
    text: dict[str, Any],
    max_new_tokens: int,
    device: str,
    allow_pickle: bool,
    per_item: str | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    from vitcli.config import TextEvalConfig
    from vitcli.evaluation.text_retention import evaluate_text_retention
    from vitcli.runtime.io import check_output_free, write_jsonl

    cfg = TextEvalConfig(model=model, max_new_tokens=max_new_tokens, device=device, allow_pickle=allow_pickle, **text)
    if per_item and per_item != "-":
        check_output_free(Path(per_item), overwrite, "--per-item")
    output.quiet_libraries()
    with output.progress_bar("eval text", 2) as update:
        report = evaluate_text_retention(cfg, on_progress=update)
    if per_item:
        write_jsonl(per_item, report.per_item)
    if as_json:
        output.emit_json(report.to_json())
        return
    rows = [
        (name, m["base"], m["tuned"], m.get("ratio", m.get("delta")), "ratio" if "ratio" in m else "delta")
        for name, m in report.metrics.items()
    ]
    title = f"text retention: {report.tuned} vs base {report.base} (window {report.window}, stride {report.stride})"
    output.print_table(title, rows, ("metric", "base", "tuned", "change", "as"))
