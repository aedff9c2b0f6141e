"""`vitcli env`: the JSON report's keys, the true torch version, and missing packages shown as missing."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from typer.testing import CliRunner

from vitcli import __version__
from vitcli.cli.app import app
from vitcli.runtime import environment
from vitcli.runtime.environment import NOT_INSTALLED, PACKAGES, collect_environment

runner = CliRunner()


def env_json() -> dict:
    res = runner.invoke(app, ["env", "--json"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_json_has_every_key_and_the_real_torch_version():
    env = env_json()
    assert set(env) == {
        "vitcli",
        "python",
        "platform",
        "packages",
        "torch",
        "java",
        "extras",
        "offline",
        "vitcli_version",
    }
    assert env["vitcli"] == env["vitcli_version"] == __version__
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert list(env["packages"]) == list(PACKAGES)
    assert env["packages"]["torch"] == torch.__version__
    assert env["torch"]["cuda_available"] == torch.cuda.is_available()
    assert env["torch"]["cuda_version"] == torch.version.cuda
    assert set(env["extras"]) == {"families", "gguf", "vllm"}
    assert set(env["offline"]) == {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME"}


def test_offline_flags_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    offline = env_json()["offline"]
    assert offline["HF_HUB_OFFLINE"] == "1" and offline["TRANSFORMERS_OFFLINE"] is None


@pytest.mark.parametrize("module, extra", [("num2words", "families"), ("torchvision", "families"), ("gguf", "gguf")])
def test_unimportable_module_is_not_installed_and_its_extra_unusable(monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    env = collect_environment()
    assert env.packages[module] == NOT_INSTALLED and env.extras[extra] is False
    assert env.packages["torch"] == torch.__version__  # the rest of the report still comes


def test_table_shows_missing_packages_and_no_java(monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)
    monkeypatch.setattr(environment.shutil, "which", lambda name: None)
    res = runner.invoke(app, ["env"])
    assert res.exit_code == 0, res.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in res.stdout.splitlines()
        if line.count("│") == 3
    }
    assert rows["gguf"] == NOT_INSTALLED and rows["extra: gguf"] == "not usable" and rows["java"] == "not found"
    assert rows["torch"] == torch.__version__ and rows["vitcli"] == __version__
