"""The demo model's name, label and place, and whether it is built: what the app needs to
know about `demo` without importing the engine side (console/worker/demo.py builds it)."""

from __future__ import annotations

import json
from pathlib import Path

from console.host import paths

DEMO_NAME = "demo"
DEMO_LABEL = "demo: random weights"
_MARKER = ".autoglm-demo.json"
# Bump when the demo's shape changes: an old demo directory is then rebuilt.
DEMO_VERSION = 1


def demo_dir() -> Path:
    return paths.cache_dir() / DEMO_NAME


def is_complete(directory: Path) -> bool:
    """Whether `directory` holds a whole demo of this version (its marker file is written
    last)."""
    marker = directory / _MARKER
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if info.get("version") != DEMO_VERSION:
        return False
    return all((directory / name).is_file() for name in info.get("files", []))
