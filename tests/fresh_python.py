"""Run a snippet in a new interpreter: what importing a module pulls in, seen without the modules
the test process itself has already imported."""

from __future__ import annotations

import subprocess
import sys


def fresh_python(code: str) -> str:
    """The stripped stdout of `python -c code` (the snippet must succeed)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()
