"""Where the tests' real files are (one definition for every test module)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
NVML_FIXTURES = FIXTURES / "nvml"  # recorded NVML answers (console.host.nvml.RecordedNvml)
LOG_FIXTURES = FIXTURES / "logs"  # real and synthesized engine logs (tests/fixtures/logs/)


def nvml_recording(name: str) -> dict[str, Any]:
    """A recorded-NVML fixture as JSON (tests/fixtures/nvml/NAME)."""
    data: dict[str, Any] = json.loads((NVML_FIXTURES / name).read_text())
    return data
