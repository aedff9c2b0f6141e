"""Fixtures for robustness tests: the CLI runner, small image files, and model folders whose weights are pickles
(plain tensors, or a payload that must never run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from robust_helpers import Payload, copy_model_without_safetensors, png, png_header_only


@pytest.fixture
def cli():
    """cli(*args, input=None) -> click Result, through the real root app (same handler as `vitcli`)."""
    from typer.testing import CliRunner

    from vitcli.cli.app import app

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(app, [str(a) for a in args], input=input)

    return invoke


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    """A folder with one good PNG, one broken file and one decompression bomb; plus a PNG outside it."""
    root = tmp_path_factory.mktemp("images")
    (root / "imgs").mkdir()
    (root / "imgs" / "ok.png").write_bytes(png())
    (root / "imgs" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "imgs" / "bomb.png").write_bytes(png_header_only(20000, 20000))
    (root / "outside.png").write_bytes(png())
    return root


@pytest.fixture(scope="session")
def pickle_model(tiny_run, tmp_path_factory) -> Path:
    """tiny_run with its weights as pytorch_model.bin (a torch.save pickle of plain tensors) and no safetensors."""
    import torch
    from safetensors.torch import load_file

    dest = copy_model_without_safetensors(tiny_run, tmp_path_factory.mktemp("pickle") / "model")
    state = {}
    for f in sorted(tiny_run.glob("*.safetensors")):
        state.update(load_file(f))
    torch.save(state, dest / "pytorch_model.bin")
    return dest


@pytest.fixture
def evil_model(tiny_run, tmp_path) -> tuple[Path, Path]:
    """(model folder whose pytorch_model.bin carries a code-running payload, marker the payload would write)."""
    import torch

    marker = tmp_path / "PAYLOAD_RAN"
    dest = copy_model_without_safetensors(tiny_run, tmp_path / "evil")
    torch.save({"weight": torch.zeros(2), "payload": Payload(marker)}, dest / "pytorch_model.bin")
    with (dest / "model.pt").open("wb") as f:  # a raw pickle too, for good measure
        import pickle

        pickle.dump(Payload(marker), f)
    return dest, marker
