"""How a model family wants its prompt: through the processor's chat template (our runs, LLaVA-family,
SmolVLM, Qwen2-VL), as plain text (BLIP-style captioners), or not at all (VisionEncoderDecoder).
Owns rendering only; tokenising and generation live in generate.py."""

from __future__ import annotations

from typing import Any

from vitcli.data.records import IMAGE_TOKEN
from vitcli.runtime.errors import ConfigError

DEFAULT_PROMPT = "Describe the image briefly."


def prompt_style(processor: Any) -> str:
    """'chat' when a chat template is present, 'none' for image-only captioners, else 'plain'."""
    from vitcli.modeling.load import ImageOnlyProcessor

    if isinstance(processor, ImageOnlyProcessor):
        return "none"
    tokenizer = getattr(processor, "tokenizer", None)
    if getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None):
        return "chat"
    return "plain"


def effective_prompt(processor: Any, prompt: str | None) -> str | None:
    """The question actually asked: chat models caption with DEFAULT_PROMPT, others with no text at all."""
    style = prompt_style(processor)
    if style == "none" and prompt:
        raise ConfigError("this model (VisionEncoderDecoder) only captions; it takes no prompt",
                          "drop --prompt (and --requests prompts), or use an image-text-to-text model")
    if style == "chat":
        return prompt or DEFAULT_PROMPT
    return prompt or None


def render_chat(processor: Any, prompt: str) -> str:
    """One user turn holding the image and `prompt`, plus the generation prompt. Structured content
    ([{type: image}, {type: text}]) is what hub VLM templates expect; templates that render strings only
    (vitcli's ChatML, used in training by data.chat.build_prompt) get '<image>\\n' + prompt as a string."""
    image_token = getattr(processor, "image_token", None) or IMAGE_TOKEN
    text = prompt.replace(IMAGE_TOKEN, "").replace(image_token, "").strip()
    apply = processor.apply_chat_template if hasattr(processor, "apply_chat_template") else \
        processor.tokenizer.apply_chat_template
    structured = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    try:
        rendered = apply(structured, add_generation_prompt=True, tokenize=False)
        if isinstance(rendered, str) and rendered.count(image_token) == 1:
            return rendered
    except Exception:  # noqa: BLE001 - a string-only template may fail on list content in any way
        pass
    content = prompt.replace(IMAGE_TOKEN, image_token) if image_token in prompt or IMAGE_TOKEN in prompt \
        else f"{image_token}\n{prompt}"
    return apply([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)


def render_prompts(processor: Any, prompts: list[str | None]) -> list[str] | None:
    """Model-ready text for each prompt, or None when the model takes images only / no text was asked."""
    style = prompt_style(processor)
    if style == "chat":
        return [render_chat(processor, p or DEFAULT_PROMPT) for p in prompts]
    if style == "none" or all(not p for p in prompts):
        return None
    return [p or "" for p in prompts]
