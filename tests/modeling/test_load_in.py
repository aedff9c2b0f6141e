"""--load-in: the LoadPlan each choice resolves to, weights stored in that dtype by every loader (tiny composition,
pretrained parts, --model, inference), 8/4-bit refused on CPU, the bitsandbytes config QLoRA expects, and the
bytes per weight the memory estimate counts."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vitcli.config import ModelConfig
from vitcli.modeling.compose import compose_model, keep_trainable_fp32
from vitcli.runtime.device import LoadPlan, resolve_load, stored_bytes
from vitcli.runtime.errors import ConfigError

TEXTS = ["<image>\nwhat is the shape", "a red circle", "a blue square"]


def dtypes(model) -> set[torch.dtype]:
    return {p.dtype for p in model.parameters()}


@pytest.mark.parametrize(
    "load_in,device,dtype,training,expected",
    [
        ("auto", "cpu", torch.float32, True, ("fp32", torch.float32, torch.float32)),
        ("auto", "cpu", torch.bfloat16, True, ("fp32", torch.float32, torch.bfloat16)),  # autocast over fp32
        ("auto", "cpu", torch.bfloat16, False, ("bf16", torch.bfloat16, torch.bfloat16)),  # inference: the dtype
        ("auto", "cuda:0", torch.bfloat16, True, ("bf16", torch.bfloat16, torch.bfloat16)),
        ("auto", "cuda:0", torch.float16, True, ("fp32", torch.float32, torch.float16)),
        ("bf16", "cpu", torch.float32, True, ("bf16", torch.bfloat16, torch.bfloat16)),
        ("fp16", "cuda", torch.float32, False, ("fp16", torch.float16, torch.float16)),
        ("fp32", "cuda:0", torch.bfloat16, True, ("fp32", torch.float32, torch.bfloat16)),
    ],
)
def test_resolve_load(load_in, device, dtype, training, expected):
    plan = resolve_load(load_in, device, dtype, training)
    assert (plan.name, plan.weights_dtype, plan.compute_dtype) == expected
    assert not plan.quantized and plan.quantization_config() is None
    assert plan.from_pretrained_kwargs(device) == {"dtype": expected[1]}


@pytest.mark.parametrize("load_in", ["4bit", "8bit"])
def test_quantized_refused_on_cpu_with_hint(load_in):
    with pytest.raises(ConfigError) as err:
        resolve_load(load_in, "cpu", torch.float32, training=True)
    assert "CUDA" in err.value.message and "--load-in bf16" in err.value.hint


def test_quantized_without_bitsandbytes_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "bitsandbytes" else real(n, *a))
    with pytest.raises(ConfigError) as err:
        resolve_load("4bit", "cuda:0", torch.bfloat16)
    assert "bitsandbytes" in err.value.message and "vitcli[quant]" in err.value.hint


def test_4bit_plan_is_qlora_nf4_double_quant_bf16_compute():
    plan = LoadPlan("4bit", torch.bfloat16, torch.bfloat16)
    kwargs = plan.from_pretrained_kwargs("cuda:1")
    q = kwargs["quantization_config"]
    assert q.load_in_4bit and not q.load_in_8bit
    assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16
    assert {"vision_tower", "multi_modal_projector", "lm_head"} <= set(q.llm_int8_skip_modules)
    assert kwargs["device_map"] == {"": "cuda:1"} and kwargs["dtype"] == torch.bfloat16
    eight = LoadPlan("8bit", torch.bfloat16, torch.bfloat16).quantization_config()
    assert eight.load_in_8bit and not eight.load_in_4bit


def test_quantizing_a_random_lm_is_refused():
    with pytest.raises(ConfigError) as err:
        compose_model(ModelConfig(), TEXTS, LoadPlan("4bit", torch.bfloat16, torch.bfloat16), "cuda:0")
    assert "--llm or --model" in err.value.hint


@pytest.mark.parametrize("name,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)])
def test_tiny_composition_stored_in_plan_dtype(name, dtype):
    model, _ = compose_model(ModelConfig(), TEXTS, LoadPlan(name, dtype, dtype))
    assert dtypes(model) == {dtype}


def test_pretrained_parts_load_in_bf16_and_run(tiny_llama, tiny_clip):
    plan = LoadPlan("bf16", torch.bfloat16, torch.bfloat16)
    model, processor = compose_model(ModelConfig(vision=str(tiny_clip), llm=str(tiny_llama)), [], plan)
    assert dtypes(model) == {torch.bfloat16}
    reference, _ = compose_model(ModelConfig(vision=str(tiny_clip), llm=str(tiny_llama)), [])
    assert dtypes(reference) == {torch.float32}  # no plan: the fp32 default is unchanged
    lm_key = "model.language_model.layers.0.self_attn.q_proj.weight"
    stored, full = model.state_dict()[lm_key], reference.state_dict()[lm_key]
    assert torch.equal(stored, full.to(torch.bfloat16))  # the pretrained weights, rounded once to bf16
    text = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat"}], tokenize=False, add_generation_prompt=True
    )
    batch = processor(images=[Image.new("RGB", (32, 32), "red")], text=[text], return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_continue_from_vlm_in_bf16(tiny_run):
    plan = LoadPlan("bf16", torch.bfloat16, torch.bfloat16)
    model, _ = compose_model(ModelConfig(model=str(tiny_run)), [], plan)
    assert dtypes(model) == {torch.bfloat16}


def test_inference_load_in_bf16_generates(tiny_run):
    from vitcli.config import GenerationConfig
    from vitcli.inference.generate import generate
    from vitcli.modeling.load import load_for_inference

    model, processor = load_for_inference(str(tiny_run), "cpu", torch.float32, load_in="bf16")
    assert dtypes(model) == {torch.bfloat16} and not model.training
    fp32, _ = load_for_inference(str(tiny_run), "cpu", torch.float32)
    assert dtypes(fp32) == {torch.float32}  # auto keeps the --dtype
    image = Image.new("RGB", (32, 32), "blue")
    preds = generate(model, processor, [image], ["what"], GenerationConfig(max_new_tokens=3))
    assert len(preds) == 1 and preds[0].num_tokens >= 1


def test_trainable_parameters_kept_fp32_frozen_stay_bf16():
    model, _ = compose_model(ModelConfig(), TEXTS, LoadPlan("bf16", torch.bfloat16, torch.bfloat16))
    for name, p in model.named_parameters():
        p.requires_grad_("multi_modal_projector" in name)
    projector = sum(p.numel() for n, p in model.named_parameters() if "multi_modal_projector" in n)
    assert keep_trainable_fp32(model) == projector
    for name, p in model.named_parameters():
        assert p.dtype == (torch.float32 if "multi_modal_projector" in name else torch.bfloat16), name


def test_stored_bytes_per_weight():
    assert stored_bytes(torch.nn.Parameter(torch.zeros(10, 8))) == 320
    assert stored_bytes(torch.nn.Parameter(torch.zeros(10, 8, dtype=torch.bfloat16))) == 160

    class Params4bit(torch.nn.Parameter):  # bitsandbytes' name: two 4-bit weights per uint8 element
        pass

    packed = Params4bit(torch.zeros(40, 1, dtype=torch.uint8), requires_grad=False)  # 80 weights
    assert 40 < stored_bytes(packed) < 80 * 0.6  # 0.5 bytes per weight + block scales
