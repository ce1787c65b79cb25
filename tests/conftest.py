"""Shared test set-up: every test session gets its own config, cache and log dirs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="autoglm-tests-"))
for _name in ("CONFIG", "CACHE", "LOG", "DATA"):
    os.environ.setdefault(f"AUTOGLM_CONSOLE_{_name}_DIR", str(_ROOT / _name.lower()))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
