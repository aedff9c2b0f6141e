"""The QLoRA path end to end on CPU, through bitsandbytes' CPU kernels (vitcli itself refuses 8/4-bit on CPU, so
the LoadPlan is built by hand): a 4-bit pretrained LM composed with a bf16 tower, peft's k-bit preparation, LoRA,
a backward pass, and the export (dequantized base + LoRA delta) giving the trained model's outputs."""

from __future__ import annotations

import torch
from PIL import Image

from vitcli.config import ModelConfig, TrainConfig
from vitcli.modeling.compose import compose_model, keep_trainable_fp32, merge_quantized_lora, prepare_quantized
from vitcli.modeling.freeze import prepare_model
from vitcli.runtime.device import LoadPlan

# bitsandbytes comes with the dev extra (vitcli[quant]); a missing install fails here instead of skipping.


def batch(processor):
    text = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nwhat"}], tokenize=False, add_generation_prompt=True
    )
    return processor(images=[Image.new("RGB", (32, 32), "green")], text=[text], return_tensors="pt")


def test_4bit_lm_lora_trains_and_exports_what_it_learned(tiny_llama_64, tiny_clip):
    plan = LoadPlan("4bit", torch.bfloat16, torch.bfloat16)
    model, processor = compose_model(ModelConfig(vision=str(tiny_clip), llm=str(tiny_llama_64)), [], plan, "cpu")
    kinds = {n: type(p).__name__ for n, p in model.named_parameters()}
    assert kinds["model.language_model.layers.0.self_attn.q_proj.weight"] == "Params4bit"
    assert all(k == "Parameter" for n, k in kinds.items() if "vision_tower" in n or "multi_modal_projector" in n)
    assert model.is_quantized and model.config.quantization_config.bnb_4bit_quant_type == "nf4"

    model = prepare_quantized(model, plan, gradient_checkpointing=False)
    model, stage = prepare_model(model, TrainConfig(stage="instruct", lora=True, lora_r=4))
    keep_trainable_fp32(model)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(p.dtype == torch.float32 for p in trainable.values())
    assert all("lora_" in n or "multi_modal_projector" in n for n in trainable)
    assert stage.trainable["vision_tower"] == 0

    inputs = batch(processor)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**inputs, labels=inputs["input_ids"]).loss
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in trainable.values())

    with torch.no_grad():  # what training would have done: non-zero adapters (B starts at zero)
        gen = torch.Generator().manual_seed(0)
        for n, p in trainable.items():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
        model.eval()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            trained = model(**inputs).logits.float()
            with model.disable_adapter():
                untrained = model(**inputs).logits.float()
        exported = merge_quantized_lora(model, torch.bfloat16)
        assert {p.dtype for p in exported.parameters()} == {torch.bfloat16}
        assert not getattr(exported, "is_quantized", False) and "quantization_config" not in exported.config.to_dict()
        plain = exported(**inputs).logits.float()
    assert torch.allclose(plain, trained, atol=0.1, rtol=0.05), (plain - trained).abs().max()
    error = (plain - trained).abs().mean()
    assert error < 0.02 and (untrained - trained).abs().mean() > 5 * error  # the adapters' effect survives export
