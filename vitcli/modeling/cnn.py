"""CNN vision towers for Llava: a conv backbone whose feature maps (B, C, h, w) become h*w image tokens (B, h*w, C),
the (B, N, D) hidden states Llava selects from with `vision_feature_layer` (-1 the last map; earlier stages keep more
of what a classifier's last layers discard, such as colour). Backbones: a transformers conv model (ConvNeXt, ResNet,
EfficientNet, RegNet, MobileNetV2; random from cfg sizes with `--set model.vision_type=cnn`, or pretrained via --vision
with that flag), or the pretrained ImageNet EfficientNet-Lite0 of modeling/efficientnet.py (`--vision
efficientnet-lite0`, its .pth, or its converted folder; no flag needed): 7x7 tokens of 1280 channels at 224 px.

The tower is a custom model type, `vitcli_cnn` (and the Lite backbone `vitcli_efficientnet_lite`), so plain
transformers cannot build it from config.json alone: importing this module registers both with AutoConfig / AutoModel,
and modeling/load.py imports it, so `vitcli caption/eval --model RUN` load CNN runs with no extra step.
(trust_remote_code cannot help: Llava builds its vision sub-model from a nested config, found via the registry.)"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec
from transformers.modeling_outputs import BaseModelOutputWithPooling

from vitcli.modeling import efficientnet

CNN_MODEL_TYPE = "vitcli_cnn"


class CnnTowerConfig(PreTrainedConfig):
    model_type = CNN_MODEL_TYPE
    sub_configs_defaults = {"backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="convnext")}
    backbone_config: dict | PreTrainedConfig | None = None
    hidden_size: int = 0  # channels of the last feature map (what the projector reads)
    image_size: int = 224
    patch_size: int = 32  # pixels per output token per side (the backbone's total stride)


class CnnTowerModel(PreTrainedModel):
    config_class = CnnTowerConfig
    base_model_prefix = "cnn"
    main_input_name = "pixel_values"

    def __init__(self, config: CnnTowerConfig) -> None:
        super().__init__(config)
        self.backbone = AutoModel.from_config(config.backbone_config)
        self.post_init()

    def _init_weights(self, module: Any) -> None:  # the backbone initialises itself
        pass

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling:
        out = self.backbone(pixel_values, output_hidden_states=True, return_dict=True)
        last = out.last_hidden_state  # (B, C, h, w)
        tokens = last.flatten(2).transpose(1, 2)  # (B, h*w, C)
        states = tuple(h.flatten(2).transpose(1, 2) for h in out.hidden_states if h.dim() == 4)
        if not states or states[-1].shape != tokens.shape:
            states = (*states, tokens)
        return BaseModelOutputWithPooling(last_hidden_state=tokens, pooler_output=tokens.mean(1), hidden_states=states)


AutoConfig.register(CNN_MODEL_TYPE, CnnTowerConfig, exist_ok=True)
AutoModel.register(CnnTowerConfig, CnnTowerModel, exist_ok=True)


def random_backbone_config(cfg: Any) -> Any:
    """A small ConvNeXt sized by cfg: 2 stages, stride 4 then 2, so 8 px per image token."""
    from transformers import ConvNextConfig

    width = cfg.vision_hidden_size
    return ConvNextConfig(
        num_channels=3,
        patch_size=4,
        num_stages=2,
        hidden_sizes=[width // 2, width],
        depths=[cfg.vision_num_layers, cfg.vision_num_layers],
        image_size=cfg.image_size,
    )


def uses_cnn_tower(cfg: Any) -> bool:
    """Whether cfg asks for a CNN tower: the explicit vision_type, or a --vision that names EfficientNet-Lite."""
    return cfg.vision_type == "cnn" or efficientnet.is_lite0_source(cfg.vision)


def load_cnn_tower(cfg: Any) -> Any:
    """A VisionTower around a CNN: pretrained conv model from cfg.vision (safetensors; EfficientNet-Lite0 from its
    name, .pth or converted folder), or a random ConvNeXt."""
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    from vitcli.modeling.pretrained import VisionTower, _from_pretrained, describe_tower, load_image_processor
    from vitcli.runtime.errors import ConfigError

    if cfg.vision:
        source = efficientnet.resolve_lite0(cfg.vision) if efficientnet.is_lite0_source(cfg.vision) else cfg.vision
        backbone = _from_pretrained(AutoModel, source, "CNN vision model", use_safetensors=True, dtype=torch.float32)
        image_processor = load_image_processor(source, backbone.config, None)
        if cfg.vision_image_size:  # a CNN reads any size: fewer pixels, fewer image tokens (224 -> 7x7, 96 -> 3x3)
            image_processor.size = {"height": cfg.vision_image_size, "width": cfg.vision_image_size}
        backbone_config = backbone.config
    else:
        backbone, backbone_config = None, random_backbone_config(cfg)
        image_processor = SiglipImageProcessorPil(size={"height": cfg.image_size, "width": cfg.image_size})
    config = CnnTowerConfig(backbone_config=backbone_config)
    model = CnnTowerModel(config)
    if backbone is not None:
        model.backbone = backbone
    from PIL import Image

    size = image_processor(Image.new("RGB", (256, 256)), return_tensors="pt")["pixel_values"].shape[-1]
    with torch.no_grad():
        states = model(torch.zeros(1, 3, size, size)).hidden_states
    try:  # any stage's map: -1 the last; earlier ones keep more of what ImageNet training discards (colour)
        tokens = states[cfg.vision_feature_layer]
    except IndexError:
        raise ConfigError(
            f"vision_feature_layer {cfg.vision_feature_layer} is out of range: this CNN has {len(states)} feature maps",
            f"pick a layer between -1 and -{len(states)}",
        ) from None
    side = int(round(tokens.shape[1] ** 0.5))
    config.hidden_size, config.image_size, config.patch_size = tokens.shape[-1], size, size // side
    tower = describe_tower(model.float().eval(), config, image_processor, cfg.vision_feature_layer)
    return VisionTower(model, config, image_processor, tower.image_size, tower.token_patch, 0, False)
