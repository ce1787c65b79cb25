"""The vision demo `demo-vl`'s name, label and place, whether it is built, and the probe images
it ships: what the app needs to know about `demo-vl` without importing the engine side
(console/worker/demo_vl.py builds it)."""

from __future__ import annotations

import json
from pathlib import Path

from console.host import paths

DEMO_VL_NAME = "demo-vl"
DEMO_VL_LABEL = "demo-vl: random weights"
_MARKER = ".autoglm-demo.json"
# Bump when the demo's shape changes: an old demo-vl directory is then rebuilt.
DEMO_VL_VERSION = 1
PROBE_DIR = Path(__file__).resolve().parent.parent / "assets" / "probe"


def demo_vl_dir() -> Path:
    """Where demo-vl is built (the user's cache directory)."""
    return paths.cache_dir() / DEMO_VL_NAME


def probe_images() -> list[Path]:
    """The small PNGs shipped with the package (a phone screen, an icon, a wide banner)."""
    return sorted(PROBE_DIR.glob("*.png"))


def is_complete(directory: Path) -> bool:
    """Whether `directory` holds a whole demo-vl of this version (its marker is written last)."""
    try:
        info = json.loads((directory / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    if info.get("version") != DEMO_VL_VERSION or info.get("name") != DEMO_VL_NAME:
        return False
    return all((directory / name).is_file() for name in info.get("files", []))
