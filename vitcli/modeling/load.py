"""Load an existing image-to-text model and its processor, for training (`train --model`) and inference alike: our
runs, local dirs, hub ids of any declared family (modeling/families.py), and VisionEncoderDecoder checkpoints
(ViT-GPT2 style: an image processor + tokenizer, no processor class).
Weights come from safetensors only: a folder with only pickle weights (.bin/.pt/.pth/.ckpt) is refused unless
allow_pickle, and even then torch.load runs with weights_only=True. Remote code stays off unless asked for."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vitcli.modeling.cnn  # noqa: F401  (registers vitcli's own model types, vitcli_cnn and its backbones)
from vitcli.runtime.errors import ModelError
from vitcli.runtime.hub import honour_offline_env

ENCODER_DECODER_TYPES = ("vision-encoder-decoder",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def weight_format(folder: Path) -> str:
    """'safetensors' when the folder holds any *.safetensors, 'pickle' when it holds only pickle weights,
    'none' when it holds neither (e.g. a GGUF or an empty folder)."""
    files = [f for f in folder.iterdir() if f.is_file()]
    if any(f.suffix == ".safetensors" for f in files):
        return "safetensors"
    if any(f.suffix in PICKLE_SUFFIXES and f.name != "training_args.bin" for f in files):
        return "pickle"
    return "none"


def check_weights(name: str, allow_pickle: bool) -> bool:
    """Whether to load pickle weights (with weights_only=True): a local folder whose only weights are
    pickles is refused unless allow_pickle. Hub ids always go through safetensors."""
    p = Path(name)
    if not p.is_dir() or weight_format(p) != "pickle":
        return False
    if not allow_pickle:
        raise ModelError(
            f"'{name}' holds only pickle weights (.bin/.pt), which can run code when loaded",
            "convert them to safetensors, or pass --allow-pickle if you trust the files "
            "(they are then loaded with weights_only=True)",
        )
    return True


@dataclass
class ImageOnlyProcessor:
    """The processor of an image-only captioner (VisionEncoderDecoderModel): pixels in, no text prompt. Quacks like
    a transformers processor where vitcli needs it (`__call__`, `.tokenizer`, `.image_processor`, no template) and
    saves as image processor + tokenizer files side by side, which is what load_processor reads back."""

    image_processor: Any
    tokenizer: Any
    chat_template: None = None

    def __call__(self, images: list[Any], text: Any = None, return_tensors: str = "pt", **_: Any) -> Any:
        if text is not None:
            raise ModelError("this model captions images only and takes no prompt", "drop --prompt")
        return self.image_processor(images=images, return_tensors=return_tensors)  # pixel_values (B, 3, H, W)

    def save_pretrained(self, path: str | Path) -> None:
        self.image_processor.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))


def model_type_of(name: str, trust_remote_code: bool = False) -> str | None:
    """config.model_type of a checkpoint, or None when its config cannot be read. A model type transformers does not
    know (at the top or in a sub-config) is a ModelError naming that type, not transformers' list of ~900 types."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code).model_type
    except ValueError as e:
        unknown = unknown_model_type(str(e))
        if unknown:
            import transformers

            version = transformers.__version__
            raise ModelError(
                f"'{name}' is a '{unknown}' model, a type neither transformers {version} nor vitcli knows",
                "upgrade transformers (pip install -U transformers) or vitcli, or pass a model `vitcli caption --help` "
                "lists",
            ) from None
        return None
    except OSError:
        return None


def unknown_model_type(message: str) -> str | None:
    """The model type an AutoConfig ValueError complains about (top-level or sub-config), else None."""
    import re

    match = re.search(r"model type for subconfig: (\S+?)\.? Should", message) or re.search(
        r"has model type `([^`]+)`", message
    )
    return match.group(1) if match else None


def load_processor(name: str, model_type: str | None, trust_remote_code: bool = False) -> Any:
    """AutoProcessor, or an ImageOnlyProcessor for encoder-decoder captioners that ship no processor class."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    if model_type in ENCODER_DECODER_TYPES:
        remote = {"trust_remote_code": trust_remote_code}
        return ImageOnlyProcessor(
            AutoImageProcessor.from_pretrained(name, **remote), AutoTokenizer.from_pretrained(name, **remote)
        )
    processor = AutoProcessor.from_pretrained(name, trust_remote_code=trust_remote_code)
    if getattr(processor, "image_processor", None) is None:
        raise ModelError(
            f"'{name}' has no image processor, so it cannot read images",
            "pass an image-text-to-text checkpoint (it ships preprocessor_config.json)",
        )
    return processor


def load_model(
    name: str,
    dtype: Any,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    load: Any = None,
    device: str = "cpu",
) -> tuple[Any, Any]:
    """(model, processor) of any declared family, a vitcli run or a VisionEncoderDecoder checkpoint, on the CPU in
    `dtype` -- or stored as the LoadPlan `load` says (runtime/device.py; 8/4-bit ones load onto `device`).
    Errors name what went wrong in one sentence: missing folders, pickle weights, offline hubs, a missing extra."""
    from transformers import AutoModelForImageTextToText, VisionEncoderDecoderModel

    from vitcli.modeling.families import check_installed, family_of

    p = Path(name)
    if p.exists() and not (p / "config.json").is_file():
        hint = "training may not have finished; pass the --output folder of a completed `vitcli train`"
        raise ModelError(f"'{name}' holds no model (no config.json)", hint)
    if not p.exists() and (name.startswith((".", "/", "~")) or name.count("/") > 1):
        raise ModelError(f"model '{name}' not found", "check the path, or pass a hub id like org/name")
    pickle_ok = check_weights(name, allow_pickle)
    honour_offline_env()
    model_type = model_type_of(name, trust_remote_code)
    check_installed(family_of(model_type))
    loader = VisionEncoderDecoderModel if model_type in ENCODER_DECODER_TYPES else AutoModelForImageTextToText
    try:
        processor = load_processor(name, model_type, trust_remote_code)
        storage = load.from_pretrained_kwargs(device) if load is not None else {"dtype": dtype}
        model = loader.from_pretrained(
            name, use_safetensors=not pickle_ok, weights_only=True, trust_remote_code=trust_remote_code, **storage
        )
    except pickle.UnpicklingError as e:  # weights_only=True met something other than tensors
        raise ModelError(
            f"'{name}' has pickle weights that are not plain tensors: {first_line(e)}",
            "do not trust this checkpoint; ask for a safetensors version",
        ) from None
    except ImportError as e:
        raise ModelError(
            f"loading '{name}' needs a package that is not installed: {first_line(e)}",
            "pip install 'vitcli[families]' (torchvision must match your torch build; see README)",
        ) from None
    except OSError as e:
        raise ModelError(
            f"could not load model '{name}': {first_line(e)}",
            "check the path or hub id; offline, only local folders load",
        ) from None
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise ModelError(
                f"'{name}' needs its own model code from the hub",
                "pass --trust-remote-code if you trust that repository's code",
            ) from None
        raise ModelError(
            f"'{name}' ({model_type or 'unknown type'}) is not an image-text-to-text model vitcli can load",
            "pass a checkpoint of a family `vitcli caption --help` lists, or a vitcli run folder",
        ) from None
    return model, processor


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (some start with a newline), else its type."""
    return next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)


def load_for_inference(
    name: str,
    device: str,
    dtype: Any,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    load_in: str = "auto",
) -> tuple[Any, Any]:
    """(model in eval mode on `device`, processor) for generation. `load_in` (--load-in) picks how weights are
    stored; 'auto' stores them in `dtype`. 'cuda:N' becomes the current GPU, so kernels and caches land there too."""
    from vitcli.runtime.device import resolve_load, use_device

    plan = resolve_load(load_in, device, dtype)
    use_device(device)
    model, processor = load_model(name, plan.weights_dtype, trust_remote_code, allow_pickle, load=plan, device=device)
    if not plan.quantized:  # bitsandbytes weights are placed at load time and cannot be moved
        model = model.to(device)
    return model.eval(), processor
