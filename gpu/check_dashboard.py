#!/usr/bin/env python3
"""Check the dashboard on a host with a real NVIDIA GPU (run on the GPU host).

    python3 gpu/check_dashboard.py --out DIR [--idle-seconds 60]

Needs textual (gpu/run_all.sh puts the .whl/ wheels on PYTHONPATH), tmux, and an
`autoglm-console` on PATH (run_all.sh makes a wrapper). Checks, each caught and reported on
its own (the run goes on after a failure):
  pilot       the Pilot tests of the dashboard driven by the real Telemetry on this driver
              (tests/ui/test_real_telemetry.py with --real-nvml: every GPU has a panel whose
              VRAM numbers are NVML's, every GPU process is in the table)
  tmux        the installed console in tmux (tests/e2e): first frame, "GPU 0 ·" on screen,
              keys, q exits 0, hang-ups and a dying parent leave no process
  benchmark   benchmarks/startup_idle.py: first frame (median/p90), torch not imported, idle
              CPU and RSS with the real GPU panels live; numbers reported, targets printed
Writes DIR/check_dashboard.json and the outputs DIR/dashboard_<check>.txt, prints a summary,
exits 1 if any check failed (the benchmark fails only if it could not run: its numbers are
reported against the targets, not asserted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(msg, flush=True)


def run(name: str, argv: list[str], out: Path, timeout_s: int) -> dict[str, Any]:
    """Run one check as a child process; keep its output; never raise."""
    started = time.monotonic()
    log(f"--- {name}: {' '.join(argv)}")
    try:
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        text = proc.stdout + proc.stderr
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired as exc:
        text = f"{exc.stdout or ''}{exc.stderr or ''}\nTIMED OUT after {timeout_s} s"
        code = None
    except Exception:
        text = traceback.format_exc()
        code = None
    (out / f"dashboard_{name}.txt").write_text(str(text))
    tail = "\n".join(str(text).strip().splitlines()[-12:])
    log(tail)
    return {"returncode": code, "seconds": round(time.monotonic() - started, 1), "tail": tail}


def main() -> int:
    parser = argparse.ArgumentParser(description="dashboard checks on a real GPU")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--idle-seconds", type=int, default=60)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    results: dict[str, Any] = {"started": time.time(), "host": os.uname().nodename, "checks": {}}
    checks = results["checks"]

    checks["pilot"] = run("pilot", [
        py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--real-nvml",
        "tests/ui/test_real_telemetry.py", "tests/ui/test_dashboard.py"], out, 600)
    checks["pilot"]["ok"] = checks["pilot"]["returncode"] == 0

    checks["tmux"] = run("tmux", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "tests/e2e/test_tmux.py"], out, 600)
    checks["tmux"]["ok"] = checks["tmux"]["returncode"] == 0

    bench_json = out / "dashboard_benchmark.json"
    checks["benchmark"] = run("benchmark", [
        py, "benchmarks/startup_idle.py", "--runs", "10", "--idle-seconds", str(args.idle_seconds),
        "--json", str(bench_json)], out, 300 + 3 * args.idle_seconds)
    # Exit 0: every target met; 1: numbers measured but a target missed; else it broke.
    checks["benchmark"]["ok"] = checks["benchmark"]["returncode"] in (0, 1)
    if bench_json.exists():
        checks["benchmark"]["results"] = json.loads(bench_json.read_text())

    results["finished"] = time.time()
    (out / "check_dashboard.json").write_text(json.dumps(results, indent=2))
    log("\n=== dashboard checks")
    for name, check in checks.items():
        log(f"{name:<10} {'ok' if check['ok'] else 'FAILED'}  rc={check['returncode']}  "
            f"{check['seconds']} s")
    return 0 if all(check["ok"] for check in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
