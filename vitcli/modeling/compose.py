"""Compose a LlavaForConditionalGeneration (vision tower + projector + causal LM) and its LlavaProcessor.
The tiny path builds everything from configs, with a word-level tokenizer made in-process from dataset text; pretrained
towers / LMs (hub ids, dirs, GGUF) come from modeling/pretrained.py and slot into the same LlavaConfig."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vitcli.config import ModelConfig
from vitcli.modeling.families import IMAGE_TOKEN
from vitcli.modeling.word_tokenizer import CHATML_TEMPLATE, IM_END, IM_START, PAD, UNK, build_word_tokenizer  # noqa: F401
from vitcli.runtime.errors import ConfigError, ModelError


def sincos_2d_(weight) -> None:
    """Fill (grid*grid, D) position embeddings with fixed 2D sine-cosine codes (MAE-style: half the channels
    encode the row, half the column), so a random tower starts knowing where each patch is; they still train."""
    import math

    import torch

    n, dim = weight.shape
    grid = math.isqrt(n)
    if grid * grid != n or dim % 4:
        return
    freqs = 1.0 / 100 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))  # (D/4,)
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")

    def code(axis):  # (n,) -> (n, D/2)
        angles = axis.reshape(-1, 1).float() * freqs
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    with torch.no_grad():
        weight.copy_(torch.cat([code(rows), code(cols)], dim=1).to(weight.dtype))


def compose_tiny(cfg: ModelConfig, tokenizer):
    """A randomly initialised SigLIP-style tower + MLP projector + Llama-style LM, sized by `cfg`."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    vision = tiny_vision_config(cfg)
    text = tiny_text_config(cfg, tokenizer)
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projector_hidden_act="gelu" if cfg.projector == "mlp2x_gelu" else "linear",
        vision_feature_layer=cfg.vision_feature_layer,
        vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        tie_word_embeddings=True,
    )
    model = LlavaForConditionalGeneration(config)
    if cfg.vision_type == "siglip" and cfg.vision_position_init == "sincos":
        sincos_2d_(model.model.vision_tower.embeddings.position_embedding.weight)
    gen = model.generation_config
    gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id, None
    gen.do_sample, gen.max_new_tokens = False, 32
    return model


def tiny_text_config(cfg: ModelConfig, tokenizer):
    """A random Llama-style LM config sized by `cfg`, vocabulary from `tokenizer`."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.text_hidden_size,
        intermediate_size=cfg.text_intermediate_size,
        num_hidden_layers=cfg.text_num_layers,
        num_attention_heads=cfg.text_num_heads,
        num_key_value_heads=cfg.text_num_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True,
        attention_dropout=cfg.dropout,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )


def tiny_vision_config(cfg: ModelConfig):
    """A random vision tower config. 'swin' halves the token grid once (patch merging): patch_size 4 on a 48 px
    image gives 6x6 image tokens, with the locality bias that lets a from-scratch tower learn shapes quickly."""
    from transformers import SiglipVisionConfig, SwinConfig

    if cfg.vision_type == "swin":
        dim = cfg.vision_hidden_size // 2
        grid = cfg.image_size // cfg.patch_size
        return SwinConfig(
            image_size=cfg.image_size,
            patch_size=cfg.patch_size,
            embed_dim=dim,
            depths=[cfg.vision_num_layers, cfg.vision_num_layers],
            num_heads=[max(1, cfg.vision_num_heads // 2), cfg.vision_num_heads],
            window_size=grid // 2,
            drop_path_rate=0.0,
            attention_probs_dropout_prob=cfg.dropout,
        )
    if cfg.vision_type != "siglip":
        raise ConfigError(f"unknown vision_type '{cfg.vision_type}'", "use siglip or swin")
    return SiglipVisionConfig(
        hidden_size=cfg.vision_hidden_size,
        intermediate_size=cfg.vision_hidden_size * 2,
        num_hidden_layers=cfg.vision_num_layers,
        num_attention_heads=cfg.vision_num_heads,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        vision_use_head=False,
        attention_dropout=cfg.dropout,
    )


def image_tokens_per_side(cfg: ModelConfig) -> int:
    grid = cfg.image_size // cfg.patch_size
    return grid // 2 if cfg.vision_type == "swin" else grid


def build_processor(
    tokenizer,
    image_size: int,
    patch_size: int,
    select_strategy: str = "full",
    num_additional_image_tokens: int = 0,
    image_processor=None,
):
    """A LlavaProcessor that expands each <image> into one token per patch feature."""
    from transformers import LlavaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    if image_processor is None:
        image_processor = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy=select_strategy,
        chat_template=tokenizer.chat_template,
        num_additional_image_tokens=num_additional_image_tokens,
        image_token=IMAGE_TOKEN,
    )


def compose_model(
    cfg: ModelConfig, train_texts: Iterable[str], load: Any = None, device: str = "cpu"
) -> tuple[Any, Any]:
    """(model, processor) for training: an existing VLM (`cfg.model`), a composition of pretrained and/or random
    parts (`cfg.vision`, `cfg.llm`), or the tiny random composition with a word-level tokenizer from `train_texts`.
    `cfg.arch == 'encoder-decoder'` composes a VisionEncoderDecoderModel and an ImageOnlyProcessor instead.
    Weights are stored as the LoadPlan `load` says (runtime/device.py; fp32 without one): bf16/fp16 cast after
    composition, 8/4-bit quantize the pretrained LM onto `device` (tower and projector stay in half precision)."""
    if load is not None and load.quantized and not (cfg.model or cfg.llm):
        raise ConfigError(
            f"--load-in {load.name} quantizes pretrained LM weights, and this run builds a random LM",
            "pass --llm or --model with --load-in 8bit/4bit, or use --load-in bf16",
        )
    model, processor = compose_unstored(cfg, train_texts, load, device)
    return store_weights(model, load, device, loaded_whole=bool(cfg.model)), processor


def compose_unstored(cfg: ModelConfig, train_texts: Iterable[str], load: Any, device: str) -> tuple[Any, Any]:
    """compose_model before the storage dtype is applied (pretrained LMs already load in it)."""
    from vitcli.modeling.cnn import uses_cnn_tower

    if cfg.model:
        if cfg.vision or cfg.llm:
            raise ConfigError(
                "--model continues an existing VLM; it cannot be combined with --vision/--llm",
                "drop --vision/--llm, or drop --model to compose from parts",
            )
        from vitcli.modeling.pretrained import load_vlm

        return load_vlm(cfg.model, load, device)
    if cfg.arch == "encoder-decoder":
        from vitcli.modeling.encoder_decoder import compose_encoder_decoder

        return compose_encoder_decoder(cfg, train_texts)
    if cfg.arch != "llava":
        raise ConfigError(f"unknown arch '{cfg.arch}'", "use llava or encoder-decoder")
    if cfg.vision_position_init not in ("sincos", "random"):
        raise ConfigError(f"unknown model.vision_position_init '{cfg.vision_position_init}'", "use sincos or random")
    if cfg.projector not in PROJECTORS:
        raise ConfigError(f"unknown projector '{cfg.projector}'", f"choose one of: {', '.join(PROJECTORS)}")
    if cfg.vision_image_size and not (cfg.vision and uses_cnn_tower(cfg)):
        raise ConfigError(
            "model.vision_image_size resizes only a pretrained CNN tower's input (a ViT's position grid is fixed)",
            "drop it, or use --vision efficientnet-lite0 (random towers take model.image_size)",
        )
    if cfg.vision is None and cfg.llm is None and cfg.vision_type != "cnn":
        tokenizer = build_word_tokenizer(train_texts)
        token_patch = cfg.image_size // image_tokens_per_side(cfg)  # pixels per image token
        processor = build_processor(tokenizer, cfg.image_size, token_patch, cfg.vision_feature_select_strategy)
        return compose_tiny(cfg, tokenizer), processor
    return compose_from_parts(cfg, train_texts, load, device)


def store_weights(model: Any, load: Any, device: str, loaded_whole: bool = False) -> Any:
    """Cast a composed model to the plan's storage dtype. A quantized LM stays as bitsandbytes placed it; the rest
    (tower, projector, head) is cast and moved beside it. `loaded_whole`: from_pretrained already placed and
    quantized the whole VLM (--model)."""
    if load is None:
        return model
    if not load.quantized:
        return model.to(load.weights_dtype)
    if loaded_whole:
        return model
    lm = model.model.language_model
    parts = [m for n, m in model.named_children() if n != "model"]
    parts += [m for m in model.model.children() if m is not lm]
    for module in parts:
        module.to(device=device, dtype=load.weights_dtype)
    return model


def drop_gguf_marker(lm: Any) -> None:
    """A GGUF LM is dequantized on load, yet transformers keeps a gguf quantization_config on it; saved inside a run's
    text_config, it makes `train --model RUN` refuse the run as "purely quantized". The weights are plain: drop it."""
    qc = getattr(lm.config, "quantization_config", None)
    method = qc.get("quant_method") if isinstance(qc, dict) else getattr(qc, "quant_method", None)
    if str(getattr(method, "value", method)).lower() == "gguf":
        del lm.config.quantization_config
        lm.hf_quantizer = None


def mark_quantized(model: Any, source: Any) -> None:
    """Copy from_pretrained's quantization markers from `source` (the quantized LM) to the composed `model`, so the
    Trainer, peft and save_pretrained treat it as the quantized model it is."""
    for attr in ("hf_quantizer", "quantization_method", "is_quantized", "is_loaded_in_4bit", "is_loaded_in_8bit"):
        if hasattr(source, attr):
            setattr(model, attr, getattr(source, attr))
    model.config.quantization_config = source.config.quantization_config
    model.config._is_quantized = True


def prepare_quantized(model: Any, load: Any, gradient_checkpointing: bool) -> Any:
    """QLoRA's preparation of an 8/4-bit model before stage freezing and LoRA (peft.prepare_model_for_kbit_training:
    every weight that is not quantized in fp32, input grads on for checkpointing); other models pass through."""
    if load is None or not load.quantized:
        return model
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )


def keep_trainable_fp32(model: Any) -> int:
    """Cast trainable bf16/fp16 parameters to fp32 (frozen ones keep their half-precision storage), as the LLaVA
    and TRL recipes keep projector / LoRA weights: AdamW on fp32 weights, autocast for the forward pass. Returns
    how many parameters were cast."""
    import torch

    cast = 0
    for p in model.parameters():
        if p.requires_grad and p.dtype in (torch.bfloat16, torch.float16):
            p.data = p.data.float()
            cast += p.numel()
    return cast


def merge_quantized_lora(model: Any, dtype: Any) -> Any:
    """A QLoRA run's export as a plain `dtype` model: each adapted 8/4-bit layer becomes an nn.Linear holding the
    dequantized base weight plus the LoRA delta, summed at full precision (peft's own merge re-quantizes the sum and
    rounds small deltas away); other quantized layers are dequantized and the quantization markers dropped."""
    import torch
    from peft.tuners.lora import LoraLayer
    from peft.utils.integrations import dequantize_bnb_weight

    unpack_cpu_4bit(model)
    for name, module in list(model.named_modules()):
        base = module.get_base_layer() if isinstance(module, LoraLayer) else None
        if base is None or type(base.weight).__name__ not in ("Params4bit", "Int8Params"):
            continue
        state = getattr(base.weight, "quant_state", None) or getattr(base, "state", None)
        full = dequantize_bnb_weight(base.weight, state=state).float()  # (out, in)
        for adapter in module.active_adapters:
            full += module.get_delta_weight(adapter).float()
        linear = torch.nn.Linear(full.shape[1], full.shape[0], bias=base.bias is not None, device=full.device)
        with torch.no_grad():
            linear.weight.copy_(full)
            if base.bias is not None:
                linear.bias.copy_(base.bias)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, linear.to(dtype))
    model = model.merge_and_unload()  # folds the trained projector copies (modules_to_save) back
    if any(type(p).__name__ in ("Params4bit", "Int8Params") for p in model.parameters()):
        return model.dequantize(dtype=dtype).to(dtype)  # layers LoRA did not adapt
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    return model.to(dtype)


def unpack_cpu_4bit(model: Any) -> None:
    """Restore the standard layout of 4-bit weights that bitsandbytes repacked in place for its AVX512-BF16 CPU
    inference kernel (it does so on an eval forward); dequantizing reads the standard layout, and bitsandbytes
    restores it the same way before it saves."""
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if getattr(getattr(weight, "quant_state", None), "packing_format_for_cpu", False):
            from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse

            weight.data, weight.quant_state = _convert_weight_packed_for_cpu_inverse(weight.data, weight.quant_state)


PROJECTORS = ("linear", "mlp2x_gelu")


def compose_from_parts(
    cfg: ModelConfig, train_texts: Iterable[str], load: Any = None, device: str = "cpu"
) -> tuple[Any, Any]:
    """Pretrained tower and/or LM (random ones where not given) + a fresh projector, as one Llava.
    A pretrained LM is moved in whole (no random copy of it is ever built: the shell is made on the meta device)
    and loads straight into the plan's storage (`load`); everything else is fp32 until store_weights."""
    import torch
    from transformers import AutoModel, GenerationConfig, LlavaConfig, LlavaForConditionalGeneration
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    from vitcli.modeling.pretrained import load_causal_lm, prepare_chat_tokenizer

    tower = load_tower(cfg)
    if cfg.llm:
        lm, tokenizer = load_causal_lm(cfg.llm, load, device)
        gen = prepare_chat_tokenizer(tokenizer, CHATML_TEMPLATE)
        drop_gguf_marker(lm)
        text_config = lm.config
        if lm.base_model is lm:
            raise ModelError(f"'{cfg.llm}' has no separate base model and head", "pass a *ForCausalLM checkpoint")
    else:
        lm, tokenizer = None, build_word_tokenizer(train_texts)
        gen = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
        text_config = tiny_text_config(cfg, tokenizer)
    strategy = cfg.vision_feature_select_strategy
    if strategy == "default" and not tower.has_cls:
        strategy = "full"  # 'default' drops a CLS token; towers without one (SigLIP) keep every patch
    # Llava ties lm_head to `language_model.embed_tokens`; LMs naming it otherwise (GPT-2's wte) stay untied.
    tie = bool(getattr(text_config, "tie_word_embeddings", False)) and (
        lm is None or hasattr(lm.base_model, "embed_tokens")
    )
    text_config.tie_word_embeddings = tie
    config = LlavaConfig(
        vision_config=tower.config,
        text_config=text_config,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projector_hidden_act="gelu" if cfg.projector == "mlp2x_gelu" else "linear",
        vision_feature_layer=cfg.vision_feature_layer,
        vision_feature_select_strategy=strategy,
        tie_word_embeddings=tie,
    )
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.model.vision_tower = tower.module
    model.model.multi_modal_projector = LlavaMultiModalProjector(config)
    if lm is not None:
        model.model.language_model = lm.base_model
        head = lm.get_output_embeddings()
        if not tie and head.weight is lm.get_input_embeddings().weight:
            head.weight = torch.nn.Parameter(head.weight.detach().clone())
        model.lm_head = head
    else:
        model.model.language_model = AutoModel.from_config(config.text_config)
        model.lm_head = torch.nn.Linear(text_config.hidden_size, text_config.vocab_size, bias=False)
    if tie:
        model.lm_head.weight = model.get_input_embeddings().weight
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    on_meta = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if on_meta:
        raise ModelError(
            f"composition left {len(on_meta)} tensors unloaded (e.g. {on_meta[0]})",
            "report this combination of --vision/--llm",
        )
    model.generation_config = GenerationConfig(do_sample=False, max_new_tokens=32, bos_token_id=None, **gen)
    processor = build_processor(
        tokenizer,
        tower.image_size,
        tower.token_patch,
        strategy,
        tower.num_additional_tokens,
        image_processor=tower.image_processor,
    )
    if load is None:
        return model.float(), processor
    if load.quantized and getattr(lm, "hf_quantizer", None) is not None:  # a GGUF LM has one too, but dequantized
        mark_quantized(model, lm)
    return model, processor  # store_weights casts to the plan's storage (no fp32 copy of a half-precision LM)


def load_tower(cfg: ModelConfig):
    """The vision side as a VisionTower: pretrained (`cfg.vision`), a CNN wrapper, or random from the sizes in cfg."""
    from transformers import AutoModel

    from vitcli.modeling.cnn import load_cnn_tower, uses_cnn_tower
    from vitcli.modeling.pretrained import VisionTower, load_vision_tower

    if uses_cnn_tower(cfg):  # --set model.vision_type=cnn, or --vision efficientnet-lite0 (name, .pth or folder)
        return load_cnn_tower(cfg)
    if cfg.vision:
        return load_vision_tower(cfg.vision, cfg.vision_feature_layer)
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    vision = tiny_vision_config(cfg)
    image_processor = SiglipImageProcessorPil(size={"height": cfg.image_size, "width": cfg.image_size})
    return VisionTower(
        AutoModel.from_config(vision),
        vision,
        image_processor,
        cfg.image_size,
        cfg.image_size // image_tokens_per_side(cfg),
        0,
        False,
    )
