"""The CLI's stderr carries vitcli's own progress: library chatter is silenced before a command runs."""

from __future__ import annotations

import subprocess
import sys


def test_quiet_libraries_silences_bitsandbytes_warnings_but_not_errors():
    # The warning bitsandbytes' CPU backend logs on import on AVX512-BF16 machines, sent through its own logger.
    code = (
        "import logging; from vitcli.cli.output import quiet_libraries; quiet_libraries(); "
        "log = logging.getLogger('bitsandbytes.backends.cpu.ops'); "
        "log.warning('Failed to load CPU gemm_4bit_forward'); log.error('a real error')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "gemm_4bit_forward" not in done.stderr and "a real error" in done.stderr
