"""Where the tests' real files are (one definition for every test module)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
NVML_FIXTURES = FIXTURES / "nvml"  # recorded NVML answers (console.host.nvml.RecordedNvml)
LOG_FIXTURES = FIXTURES / "logs"  # real and synthesized engine logs (tests/fixtures/logs/)


def nvml_recording(name: str) -> dict[str, Any]:
    """A recorded-NVML fixture as JSON (tests/fixtures/nvml/NAME)."""
    data: dict[str, Any] = json.loads((NVML_FIXTURES / name).read_text())
    return data


def benchmark(name: str) -> ModuleType:
    """benchmarks/NAME.py as a module, imported with its folder on sys.path (a benchmark imports
    its neighbours by name, as it does when run as a script)."""
    folder = str(REPO / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)
