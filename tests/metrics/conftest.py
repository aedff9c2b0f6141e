"""Fixtures for metric tests: where the shared conformance data lives (beside the repository root)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
COCO_CONFORMANCE = SHARED / "conformance" / "coco"


@pytest.fixture
def coco_conformance() -> Path:
    if not (COCO_CONFORMANCE / "expected.json").is_file():
        pytest.skip(f"shared conformance data not found at {COCO_CONFORMANCE.resolve()}")
    return COCO_CONFORMANCE
