"""Fixtures for data tests: a writer of real-format source files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path):
    """write(name, obj_or_bytes) -> Path: JSON for dicts/lists, JSONL for a tuple of rows, raw bytes as is."""

    def _write(name: str, content) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        elif isinstance(content, tuple):
            p.write_text("".join(json.dumps(r) + "\n" for r in content), encoding="utf-8")
        elif isinstance(content, str):
            p.write_text(content, encoding="utf-8")
        else:
            p.write_text(json.dumps(content), encoding="utf-8")
        return p

    return _write
