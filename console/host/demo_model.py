"""The `demo` and `demo-vl` MODELs for app-side commands (`check`, `bundle --model`, the TUI's
pre-flight): their directory, built first when missing, without importing torch here.

The demo is built by the engine side (console.worker.demo, which needs torch to write random
weights), so this asks a child interpreter for it: when the demo is already built the child
only reads its marker file (no torch import) and prints the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from console.host import demo_vl
from console.host.demo import DEMO_NAME, demo_dir, fallback_dir, is_complete

__all__ = ["DEMO_NAME", "resolve_demo"]

_CHILD = ("import sys\n"
          "from console.worker.{module} import ensure\n"
          "sys.stdout.write(str(ensure()))\n")


def resolve_demo(timeout_s: float = 300.0, name: str = DEMO_NAME) -> Path:
    """The `demo` (or `demo-vl`) model directory, built when missing; LookupError with the
    reason otherwise."""
    if name == demo_vl.DEMO_VL_NAME:
        module = "demo_vl"
        if demo_vl.is_complete(demo_vl.demo_vl_dir()):
            return demo_vl.demo_vl_dir()
    else:
        module = "demo"
        for built in (demo_dir(), fallback_dir()):
            if is_complete(built):
                return built
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD.format(module=module)],
                              capture_output=True, text=True,
                              timeout=timeout_s, env=env, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LookupError(f"{name}: the demo model could not be prepared ({exc})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LookupError(f"{name}: the demo model could not be prepared: {last}")
    return Path(done.stdout.strip())
