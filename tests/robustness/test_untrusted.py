"""Untrusted files: pickle weights are refused unless --allow-pickle and then loaded with weights_only=True, so a
crafted payload never runs; model code from a checkpoint never runs by default; image paths stay inside the
image root and decompression bombs are rejected, row by row, from the CLI."""

from __future__ import annotations

import json

from robust_helpers import assert_clean_error, leftovers, write_json

FAST = ["--device", "cpu", "--max-new-tokens", "3", "--json"]


def test_pickle_weights_load_only_with_allow_pickle_and_match_safetensors(cli, tiny_run, pickle_model, images):
    img = str(images / "imgs/ok.png")
    refused = cli("caption", "--model", pickle_model, img, *FAST)
    assert refused.exit_code == 1
    assert_clean_error(refused.stderr, "pickle weights")
    assert "--allow-pickle" in refused.stderr
    loaded = cli("caption", "--model", pickle_model, img, "--allow-pickle", *FAST)
    reference = cli("caption", "--model", tiny_run, img, *FAST)
    assert loaded.exit_code == 0 and reference.exit_code == 0, loaded.stderr
    assert json.loads(loaded.stdout)["text"] == json.loads(reference.stdout)["text"]


def test_crafted_pickle_payload_never_runs(cli, evil_model, images, tmp_path, tiny_dataset):
    folder, marker = evil_model
    out = tmp_path / "caps.jsonl"
    for extra in ([], ["--allow-pickle"]):
        res = cli("caption", "--model", folder, str(images / "imgs/ok.png"), "--output", out, *extra, *FAST)
        assert res.exit_code == 1, res.stderr
        assert_clean_error(res.stderr, "not plain tensors" if extra else "holds only pickle weights")
        assert not marker.exists(), f"the payload ran with {extra or 'defaults'}"
        assert not out.exists() and not leftovers(tmp_path)
    res = cli("eval", "--model", folder, "--data", tiny_dataset, "--allow-pickle", "--device", "cpu")
    assert res.exit_code == 1 and not marker.exists()
    assert_clean_error(res.stderr, "not plain tensors")


def test_payload_is_blocked_by_the_loader_itself(evil_model):
    """Below the CLI: load_for_inference with allow_pickle reaches torch.load(weights_only=True), which refuses."""
    import pytest

    from vitcli.modeling.load import load_for_inference
    from vitcli.runtime.errors import ModelError

    folder, marker = evil_model
    with pytest.raises(ModelError):
        load_for_inference(str(folder), "cpu", None, allow_pickle=True)
    assert not marker.exists()


def test_checkpoint_code_never_runs_without_trust_remote_code(cli, tiny_run, images, tmp_path):
    """A config whose auto_map points at code shipped in the folder: by default that code is never imported."""
    import shutil

    folder = tmp_path / "remote"
    shutil.copytree(tiny_run, folder)
    marker = tmp_path / "REMOTE_CODE_RAN"
    (folder / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import LlavaForConditionalGeneration as EvilModel\n"
        "from transformers import LlavaConfig as EvilConfig\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForImageTextToText": "evil.EvilModel"}
    write_json(folder / "config.json", config)
    res = cli("caption", "--model", folder, str(images / "imgs/ok.png"), *FAST)
    assert not marker.exists(), res.stderr
    assert res.exit_code in (0, 1) and "Traceback" not in res.stderr


def test_escaping_paths_and_bombs_are_rejected_rows_not_read(cli, images, tmp_path):
    from vitcli.data.build import read_build_report

    rows = [
        {
            "id": "ok",
            "image": "ok.png",
            "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}],
        },
        *[
            {
                "id": f"bad{i}",
                "image": ref,
                "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A"}],
            }
            for i, ref in enumerate(["../outside.png", str(images / "outside.png"), "x/../../outside.png", "bomb.png"])
        ],
    ]
    src = write_json(tmp_path / "rows.json", rows)
    out = tmp_path / "ds"
    res = cli("build-dataset", "llava", src, "--images", images / "imgs", "--out", out, "--json")
    assert res.exit_code == 0, res.stderr
    report = read_build_report(out)
    assert report["num_kept"] == 1
    reasons = sorted(r["reason"].split(":")[0] for r in report["rejected"])
    assert reasons == ["image path escapes image root"] * 3 + ["image too large"]
