"""Chat templates that take HF structured content. Many LM templates (SmolLM2's, vitcli's own before 0.2) concatenate
`message['content']` as a string, so `[{type: image}, {type: text}]` content fails or vanishes. with_structured_content
prepends a prelude that flattens structured content into the string form the template already understands (an image
item becomes the processor's image token), so HF recipes, vLLM's chat endpoint and vitcli all render the same text."""

from __future__ import annotations

from collections.abc import Callable

PRELUDE = (
    "{%- set vitcli_ns = namespace(messages=[]) -%}"
    "{%- for m in messages -%}"
    "{%- if m['content'] is string or m['content'] is none -%}"
    "{%- set vitcli_ns.messages = vitcli_ns.messages + [m] -%}"
    "{%- else -%}{%- set vitcli_text = namespace(s='') -%}"
    "{%- for c in m['content'] -%}"
    "{%- if c['type'] == 'image' -%}{%- set vitcli_text.s = vitcli_text.s + '@@IMAGE@@\\n' -%}"
    "{%- elif c['type'] == 'text' and c['text'] -%}{%- set vitcli_text.s = vitcli_text.s + c['text'] -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- set vitcli_ns.messages = vitcli_ns.messages + [{'role': m['role'], 'content': vitcli_text.s}] -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- set messages = vitcli_ns.messages -%}"
)
PROBE = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "vitcli-question"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "vitcli-answer"}]},
]


def with_structured_content(template: str, image_token: str) -> str:
    """`template` preceded by the flattening prelude (idempotent)."""
    if template.startswith(PRELUDE.split("@@IMAGE@@")[0]):
        return template
    return PRELUDE.replace("@@IMAGE@@", image_token) + template


def renders_structured(render: Callable[[list], str]) -> bool:
    """Whether render(PROBE) keeps the question and the answer, and the image item changes the text."""
    no_image = [{"role": "user", "content": PROBE[0]["content"][1:]}, PROBE[1]]
    try:
        text, without = render(PROBE), render(no_image)
    except Exception:  # noqa: BLE001 - a string-only template fails on list content in many ways
        return False
    return "vitcli-question" in text and "vitcli-answer" in text and len(text) > len(without)
