"""Atomic outputs: a failed write leaves nothing behind; a finished one has ordinary permissions."""

from __future__ import annotations

import os

import pytest

from vitcli.runtime.errors import ConfigError
from vitcli.runtime.io import atomic_dir, atomic_write


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failed_dir_leaves_nothing_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "old").write_text("kept")
    with pytest.raises(RuntimeError), atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new").write_text("half")
        raise RuntimeError("boom")
    assert [p.name for p in tmp_path.iterdir()] == ["data"] and (target / "old").read_text() == "kept"
    with pytest.raises(ConfigError, match="already exists"), atomic_dir(target):
        pass


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f.txt") as f:
            f.write("x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "a").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
