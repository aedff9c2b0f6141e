"""Load a trained image-to-text model and its processor for inference: our runs, local dirs, hub ids.
Weights come from safetensors only; remote code stays off unless asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vitcli.runtime.errors import ModelError


def load_for_inference(name: str, device: str, dtype: Any, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(model in eval mode on `device`, processor) for a LLaVA-family checkpoint."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    p = Path(name)
    if p.exists() and not (p / "config.json").is_file():
        hint = "training may not have finished; pass the --output folder of a completed `vitcli train`"
        raise ModelError(f"'{name}' holds no model (no config.json)", hint)
    if not p.exists() and (name.startswith((".", "/", "~")) or name.count("/") > 1):
        raise ModelError(f"model '{name}' not found", "check the path, or pass a hub id like org/name")
    try:
        processor = AutoProcessor.from_pretrained(name, trust_remote_code=trust_remote_code)
        model = AutoModelForImageTextToText.from_pretrained(
            name, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise ModelError(f"could not load model '{name}': {str(e).splitlines()[0]}",
                         "check the path or hub id; offline, only local folders load") from None
    except ValueError as e:
        raise ModelError(f"'{name}' is not an image-text-to-text model: {str(e).splitlines()[0]}",
                         "pass a LLaVA-family checkpoint or a vitcli run folder") from None
    if getattr(processor, "tokenizer", None) is not None:
        processor.tokenizer.padding_side = "left"
    return model.to(device).eval(), processor
