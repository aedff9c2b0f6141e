"""`evaluate` metric modules wrapping vitcli's scorers, loadable offline from a local path.
HUB_METRICS maps each name to its folder: evaluate.load(str(HUB_METRICS["vqa_accuracy"]))."""

from __future__ import annotations

from pathlib import Path

HUB_METRICS = {name: Path(__file__).resolve().parent / name for name in ("vqa_accuracy", "coco_caption")}
