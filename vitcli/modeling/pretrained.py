"""Training-side loaders for pretrained parts: a vision tower (CLIP, SigLIP, ViT, DINOv2, ... by id or dir), a causal
LM (id, dir or .gguf file) with its tokenizer made ready for <image> chat, and an existing VLM to continue from.
Weights load from safetensors only (GGUF files are the one exception). Inference loading lives in load.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitcli.modeling.families import IMAGE_TOKEN
from vitcli.runtime.errors import ConfigError, ModelError

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


@dataclass
class VisionTower:
    module: Any  # the nn.Module Llava will call: tower(pixel_values, output_hidden_states=True)
    config: Any  # its PreTrainedConfig (LlavaConfig.vision_config)
    image_processor: Any
    image_size: int  # pixels per side after preprocessing
    token_patch: int  # pixels per image token per side (LlavaProcessor.patch_size)
    num_additional_tokens: int  # tokens beyond the patch grid (CLS, registers) in hidden_states[layer]
    has_cls: bool


def _from_pretrained(loader: Any, name: str, what: str, **kwargs: Any) -> Any:
    """loader.from_pretrained with our errors: missing paths, offline hubs, non-safetensors weights."""
    try:
        return loader.from_pretrained(name, **kwargs)
    except OSError as e:
        first = str(e).splitlines()[0]
        hint = "check the path or hub id; offline, only local folders load"
        if "safetensors" in first.lower():
            hint = "vitcli loads safetensors weights only; convert the checkpoint (or pass a .gguf file for an LM)"
        raise ModelError(f"could not load {what} '{name}': {first}", hint) from None
    except ValueError as e:
        raise ModelError(
            f"'{name}' is not a usable {what}: {str(e).splitlines()[0]}", f"pass a transformers {what} checkpoint"
        ) from None


def load_vision_tower(name: str, feature_layer: int, image_size: int | None = None) -> VisionTower:
    """A pretrained vision tower and its preprocessing. Dual encoders (CLIP, SigLIP) give their vision half.
    The token layout is measured with one dummy forward, so CLS/register tokens and hierarchical towers need no
    table."""
    import torch
    from transformers import AutoConfig, AutoModel

    config = _from_pretrained(AutoConfig, name, "vision model config")
    vision_config = getattr(config, "vision_config", None) or config
    source = _from_pretrained(AutoModel, name, "vision model", use_safetensors=True, dtype=torch.float32)
    tower = AutoModel.from_config(vision_config)  # the class Llava builds from this config
    if type(tower) is type(source):
        tower = source
    else:
        copy_matching_weights(source, tower, name)
    del source
    processor = load_image_processor(name, vision_config, image_size)
    return describe_tower(tower.float().eval(), vision_config, processor, feature_layer)


def copy_matching_weights(source: Any, target: Any, name: str) -> None:
    """Copy `source` weights into `target` by key (dual encoder -> its vision half); fail when most are missing."""
    state = source.state_dict()
    want = target.state_dict()
    picked = {k: state[k] for k in want if k in state}
    if len(picked) < len(want) // 2:  # try one level of prefix difference (vision_model.* vs *)
        for prefix in {k.split(".", 1)[0] + "." for k in state}:
            alt = {k: state[prefix + k] for k in want if prefix + k in state}
            if len(alt) > len(picked):
                picked = alt
    missing = [k for k in want if k not in picked]
    if len(missing) > len(want) // 4:
        raise ModelError(
            f"the vision weights of '{name}' do not match its config ({len(missing)} of {len(want)} missing)",
            "pass a vision model or a dual encoder (CLIP/SigLIP) checkpoint",
        )
    target.load_state_dict(picked, strict=False)


def load_image_processor(name: str, vision_config: Any, image_size: int | None) -> Any:
    """The tower's own image processor; without one, a SigLIP-style resize + normalise at the config's image size."""
    from transformers import AutoImageProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    try:
        return AutoImageProcessor.from_pretrained(name)
    except (OSError, ValueError):
        size = image_size or getattr(vision_config, "image_size", 224)
        size = size if isinstance(size, int) else size[0]
        return SiglipImageProcessorPil(size={"height": size, "width": size})


def describe_tower(tower: Any, vision_config: Any, image_processor: Any, feature_layer: int) -> VisionTower:
    """Measure what one image becomes: pixel size after preprocessing and tokens in hidden_states[layer]."""
    import torch
    from PIL import Image

    pixels = image_processor(Image.new("RGB", (256, 256)), return_tensors="pt")["pixel_values"]  # (1, 3, H, W)
    height, width = pixels.shape[-2:]
    if height != width:
        raise ModelError(
            f"the image processor makes {height}x{width} images; vitcli needs square inputs",
            "use a tower whose processor crops or resizes to a square",
        )
    with torch.no_grad():
        states = tower(pixels.float(), output_hidden_states=True, return_dict=True).hidden_states
    try:
        feature = states[feature_layer]
    except IndexError:
        raise ConfigError(
            f"vision_feature_layer {feature_layer} is out of range ({len(states)} hidden states)",
            f"pick a layer between -1 and -{len(states)}",
        ) from None
    if feature.dim() != 3:
        raise ModelError(
            f"the vision tower's hidden states are {feature.dim()}-D, Llava needs (B, N, D)",
            "wrap a convolutional tower with --set model.vision_type=cnn (see modeling/cnn.py)",
        )
    tokens = feature.shape[1]
    patch = getattr(vision_config, "patch_size", None)
    patch = patch if isinstance(patch, int) else (patch[0] if patch else None)
    grid = (height // patch) ** 2 if patch else 0
    if patch and tokens >= grid:
        extra, token_patch = tokens - grid, patch
    else:  # hierarchical (Swin-like) towers merge patches: read the grid off the token count
        side = math.isqrt(tokens)
        extra, token_patch = tokens - side * side, height // max(side, 1)
    return VisionTower(tower, vision_config, image_processor, int(height), int(token_patch), int(extra), extra >= 1)


def load_causal_lm(name: str, load: Any = None, device: str = "cpu") -> tuple[Any, Any]:
    """(causal LM, tokenizer) from a hub id, a local dir, or a .gguf file (dequantised by transformers). Weights are
    stored as the LoadPlan `load` says (fp32 without one); 8/4-bit LMs are quantized straight onto `device`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file '{name}' not found", "check the --llm path")
        source, weights, extra = str(path.parent), {"gguf_file": path.name}, {"gguf_file": path.name}
    else:
        source, weights, extra = name, {"use_safetensors": True}, {}
    tokenizer = _from_pretrained(AutoTokenizer, source, "tokenizer", **extra)
    storage = load.from_pretrained_kwargs(device) if load is not None else {"dtype": torch.float32}
    lm = _from_pretrained(AutoModelForCausalLM, source, "causal LM", **storage, **weights)
    return lm, tokenizer


def prepare_chat_tokenizer(tokenizer: Any, chatml_template: str) -> dict[str, Any]:
    """Add <image> (and ChatML markers when the LM has no template), set a pad token, pad right for training.
    Returns generation settings that follow: eos ids (the turn end included) and pad id."""
    specials = [IMAGE_TOKEN]
    original_eos = tokenizer.eos_token_id
    if not tokenizer.chat_template:
        specials += [t for t in (IM_START, IM_END) if t not in tokenizer.get_vocab()]
        tokenizer.chat_template = chatml_template
    new = [t for t in specials if t not in tokenizer.get_vocab()]
    if new:
        tokenizer.add_special_tokens({"extra_special_tokens": new}, replace_extra_special_tokens=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token or IM_END
    tokenizer.image_token = IMAGE_TOKEN
    tokenizer.padding_side = "right"
    eos = [
        i
        for i in (original_eos, tokenizer.convert_tokens_to_ids(IM_END) if IM_END in tokenizer.get_vocab() else None)
        if i is not None
    ]
    if tokenizer.chat_template == chatml_template and IM_END in tokenizer.get_vocab():
        tokenizer.eos_token = IM_END  # answers end with the turn marker the labels teach
    return {"eos_token_id": sorted(set(eos)) or None, "pad_token_id": tokenizer.pad_token_id}


def load_vlm(name: str, load: Any = None, device: str = "cpu") -> tuple[Any, Any]:
    """(model, processor) to continue training: any family modeling/load.py loads, VisionEncoderDecoder captioners
    included, stored as the LoadPlan `load` says (fp32 without one). What the family needs (template,
    placeholders) is checked by its adapter."""
    import torch

    from vitcli.modeling.load import load_model

    model, processor = load_model(name, torch.float32, load=load, device=device)
    tokenizer = processor.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, processor
