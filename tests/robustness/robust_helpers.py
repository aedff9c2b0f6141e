"""Helpers for robustness tests (imported as `from robust_helpers import ...`): image bytes, leftover and
error-output checks, and the real `python -m vitcli` entry point in a subprocess."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.data.data_helpers import png_header_only  # noqa: F401 (re-exported for the robustness tests)

REPO = Path(__file__).resolve().parents[2]
LEFTOVER_MARKS = (".tmp-", ".work-", ".old-")


def png(size: tuple[int, int] = (16, 16)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(buf, format="PNG")
    return buf.getvalue()


def leftovers(folder: Path) -> list[str]:
    """Temporary siblings an atomic write could leave behind (.NAME.tmp-*, .NAME.work-*, .NAME.old-*)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.rglob("*") if any(m in p.name for m in LEFTOVER_MARKS))


def assert_clean_error(stderr: str, message: str) -> None:
    """One 'Error: ...' line containing `message`, then one 'Hint: ...' line, and no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors, stderr
    assert message.lower() in errors[-1].lower(), stderr
    i = lines.index(errors[-1])
    assert i + 1 < len(lines) and lines[i + 1].startswith("Hint: ") and len(lines[i + 1]) > len("Hint: "), stderr
    assert "Traceback" not in stderr, stderr


def run_vitcli(
    *args: str, cwd: Path, input: str | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The real entry point in a fresh interpreter: `python -m vitcli ...`, offline."""
    return subprocess.run(
        [sys.executable, "-m", "vitcli", *map(str, args)],
        cwd=cwd,
        input=input,
        text=True,
        capture_output=True,
        timeout=timeout,
        env=vitcli_env(env),
    )


def vitcli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **(extra or {}),
    }
    env.pop("VITCLI_DEBUG", None)
    return env


def copy_model_without_safetensors(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("*.safetensors", "checkpoint-*"))
    return dest


class Payload:
    """Unpickling this runs code: it writes the marker file named at pickling time."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('payload ran')",))


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path
