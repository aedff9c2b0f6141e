"""Offline mode, honoured at call time: huggingface_hub and datasets read HF_HUB_OFFLINE once, at import, so an
environment set later (a library caller, a test) would otherwise let a hub id wait on network retries."""

from __future__ import annotations

import os
import sys

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def honour_offline_env() -> bool:
    """Switch the hub libraries to offline mode when the environment asks for it now (never back on)."""
    offline = any(os.environ.get(k, "").upper() in ("1", "ON", "YES", "TRUE") for k in OFFLINE_VARS)
    if offline:
        import huggingface_hub.constants

        huggingface_hub.constants.HF_HUB_OFFLINE = True
        if "datasets" in sys.modules:
            import datasets.config

            datasets.config.HF_HUB_OFFLINE = True
            if hasattr(datasets.config, "HF_DATASETS_OFFLINE"):
                datasets.config.HF_DATASETS_OFFLINE = True
    return offline
