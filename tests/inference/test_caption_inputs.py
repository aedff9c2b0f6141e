"""caption_images inputs and failures: globs, folders, stdin, --data, --requests, EXIF orientation, one bad
image failing only itself, --fail-fast, and the vllm backend's install hint."""

from __future__ import annotations

import json

import pytest

from vitcli.config import GenerationConfig
from vitcli.inference.caption import CaptionConfig, caption_images, expand_inputs, iter_items, open_image_file
from vitcli.runtime.errors import ConfigError, DataError

GEN = GenerationConfig(max_new_tokens=3, batch_size=2)


def test_expand_inputs_globs_folders_and_stdin(tmp_path, make_images):
    top = make_images(tmp_path, [(8, 8), (8, 8)])
    nested = make_images(tmp_path / "sub", [(8, 8)])
    (tmp_path / "notes.txt").write_text("not an image")
    assert expand_inputs([str(tmp_path)]) == [str(p) for p in top]
    assert expand_inputs([str(tmp_path)], recursive=True) == sorted(str(p) for p in top + nested)
    assert expand_inputs([str(tmp_path / "*.png")]) == [str(p) for p in top]
    stdin = iter([f"{top[1]}\n", "\n", "  y.png "])
    assert expand_inputs(["-", "x.png"], stdin=stdin) == [str(top[1]), "y.png", "x.png"]
    no_match = str(tmp_path / "nothing*.png")
    assert expand_inputs([no_match]) == [no_match]  # kept, to fail as 'not found' like a missing file
    with pytest.raises(DataError, match="no images"):
        expand_inputs(["-"], stdin=iter([]))


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    img = Image.new("RGB", (40, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert open_image_file(str(tmp_path / "rot.jpg")).size == (20, 40)


def test_requests_and_dataset_items(tmp_path, tiny_dataset, mixed_images):
    reqs = tmp_path / "reqs.jsonl"
    rel = mixed_images[0].relative_to(mixed_images[0].parents[1])
    (tmp_path / rel.parent).symlink_to(mixed_images[0].parent)
    reqs.write_text(
        json.dumps({"image": str(rel), "prompt": "what color"})
        + "\n\n"
        + json.dumps({"image": str(mixed_images[1])})
        + "\n"
    )
    items = list(iter_items(CaptionConfig(requests=str(reqs), prompt="default q")))
    assert [(i.image, i.prompt) for i in items] == [(str(rel), "what color"), (str(mixed_images[1]), "default q")]
    assert items[0].source == str(tmp_path / rel)
    rows = list(iter_items(CaptionConfig(data=str(tiny_dataset), split="test")))
    assert rows and all(isinstance(r.source, bytes) and "<image>" in r.prompt for r in rows)
    with pytest.raises(ConfigError, match="together"):
        list(iter_items(CaptionConfig(images=["a.png"], data=str(tiny_dataset))))
    reqs.write_text('{"prompt": "no image"}\n')
    with pytest.raises(DataError, match="line 1"):
        list(iter_items(CaptionConfig(requests=str(reqs))))


def test_bad_image_fails_only_itself(tmp_path, tiny_llava, mixed_images):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    paths = [str(mixed_images[0]), str(bad), str(tmp_path / "missing.png"), str(mixed_images[1])]
    seen: list[int] = []
    cfg = CaptionConfig(model=str(tiny_llava), images=paths, generation=GEN, device="cpu")
    results = caption_images(cfg, on_results=lambda batch: seen.append(len(batch)))
    assert seen == [2, 2] and [r.image for r in results] == paths
    assert [r.error is None for r in results] == [True, False, False, True]
    assert "not a readable image" in results[1].error and "not found" in results[2].error
    assert results[0].text is not None and results[0].prompt == "Describe the image briefly."
    with pytest.raises(DataError, match="not a readable image"):
        caption_images(CaptionConfig(model=str(tiny_llava), images=paths, generation=GEN, device="cpu", fail_fast=True))


def test_vllm_backend_missing_is_a_config_error(tiny_llava, mixed_images):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    cfg = CaptionConfig(model=str(tiny_llava), images=[str(mixed_images[0])], backend="vllm")
    with pytest.raises(ConfigError, match="vllm") as err:
        caption_images(cfg)
    assert "vitcli[vllm]" in err.value.hint
