"""Instruction phrasings for caption and VQA rows (LLaVA's brief/detailed caption lists and the LLaVA-1.5
short-answer suffix), and the multiple-choice prompt (LLaVA's ScienceQA layout) with its parser. The phrasing of
a row is picked by hashing (seed, row id), so it does not depend on row order, --num-proc or --max-samples.
A YAML/JSON --templates file may override any of the three keys."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from vitcli.data.records import IMAGE_TOKEN
from vitcli.runtime.errors import ConfigError

BRIEF = [
    "Describe the image concisely.",
    "Provide a brief description of the given image.",
    "Offer a succinct explanation of the picture presented.",
    "Summarize the visual content of the image.",
    "Give a short and clear explanation of the subsequent image.",
    "Share a concise interpretation of the image provided.",
    "Present a compact description of the photo's key features.",
    "Relay a brief, clear account of the picture shown.",
    "Render a clear and concise summary of the photo.",
    "Write a terse but informative summary of the picture.",
    "Create a compact narrative representing the image presented.",
]
DETAILED = [
    "Describe the following image in detail.",
    "Provide a detailed description of the given image.",
    "Give an elaborate explanation of the image you see.",
    "Share a comprehensive rundown of the presented image.",
    "Offer a thorough analysis of the image.",
    "Explain the various aspects of the image before you.",
    "Clarify the contents of the displayed image with great detail.",
    "Characterize the image using a well-detailed description.",
    "Break down the elements of the image in a detailed manner.",
    "Walk through the important details of the image.",
    "Portray the image with a rich, descriptive narrative.",
    "Narrate the contents of the image with precision.",
    "Analyze the image in a comprehensive and detailed manner.",
    "Illustrate the image through a descriptive explanation.",
    "Examine the image closely and share its details.",
    "Write an exhaustive depiction of the given image.",
]
SHORT_ANSWER = "Answer the question using a single word or phrase."
CHOICE_SUFFIX = "Answer with the option's letter from the given choices directly."
_OPTION_LINE = re.compile(r"^([A-Z])\. (.*)$")


def choice_prompt(question: str, options: list[str]) -> str:
    """LLaVA's ScienceQA layout: the question, one 'A. option' line per choice, then CHOICE_SUFFIX."""
    lines = [f"{chr(ord('A') + i)}. {o}" for i, o in enumerate(options)]
    return "\n".join([f"{IMAGE_TOKEN}\n{question.strip()}", *lines, CHOICE_SUFFIX])


def parse_choices(prompt: str) -> list[str] | None:
    """The options of a choice_prompt-style prompt (consecutive 'A. ...', 'B. ...' lines), or None."""
    options: list[str] = []
    for line in prompt.splitlines():
        m = _OPTION_LINE.match(line.strip())
        if m and m.group(1) == chr(ord("A") + len(options)):
            options.append(m.group(2))
        elif options:
            break
    return options or None


@dataclass
class Templates:
    seed: int = 0
    caption_style: str = "brief"  # brief | detailed
    brief: list[str] = field(default_factory=lambda: list(BRIEF))
    detailed: list[str] = field(default_factory=lambda: list(DETAILED))
    vqa_suffix: str = SHORT_ANSWER

    def _pick(self, choices: list[str], key: str) -> str:
        h = hashlib.sha256(f"{self.seed}:{key}".encode()).digest()
        return choices[int.from_bytes(h[:8], "big") % len(choices)]

    def caption_prompt(self, key: str) -> str:
        """The user turn of a caption row: '<image>\\n' + a phrasing chosen by (seed, key)."""
        choices = self.detailed if self.caption_style == "detailed" else self.brief
        return f"{IMAGE_TOKEN}\n{self._pick(choices, key)}"

    def vqa_prompt(self, question: str) -> str:
        q = question.strip()
        return f"{IMAGE_TOKEN}\n{q}\n{self.vqa_suffix}" if self.vqa_suffix else f"{IMAGE_TOKEN}\n{q}"


def load_templates(path: str | None, seed: int = 0, caption_style: str = "brief") -> Templates:
    """Defaults, or a file with any of: brief: [..], detailed: [..], vqa_suffix: '...' ('' = none)."""
    if caption_style not in ("brief", "detailed"):
        raise ConfigError(f"unknown caption style '{caption_style}'", "use brief or detailed")
    t = Templates(seed=seed, caption_style=caption_style)
    if not path:
        return t
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"templates file '{p}' not found", "pass a YAML/JSON file with brief/detailed/vqa_suffix")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"templates file '{p}' is not valid YAML/JSON: {str(e).splitlines()[0]}", "fix the file"
        ) from None
    unknown = set(data) - {"brief", "detailed", "vqa_suffix"} if isinstance(data, dict) else {"<not a mapping>"}
    if unknown:
        raise ConfigError(
            f"templates file '{p}' has unknown keys: {', '.join(sorted(unknown))}",
            "allowed keys: brief, detailed, vqa_suffix",
        )
    for key in ("brief", "detailed"):
        if key in data:
            if (
                not isinstance(data[key], list)
                or not data[key]
                or not all(isinstance(s, str) and s.strip() for s in data[key])
            ):
                raise ConfigError(f"templates '{key}' must be a non-empty list of strings", f"fix '{p}'")
            setattr(t, key, list(data[key]))
    if "vqa_suffix" in data:
        if not isinstance(data["vqa_suffix"], str):
            raise ConfigError("templates 'vqa_suffix' must be a string", f"fix '{p}'")
        t.vqa_suffix = data["vqa_suffix"]
    return t
