#!/usr/bin/env python3
"""Press-to-ready: from the load command to the model ready, against a fresh
`python -c "from_pretrained(...)"` process, each in a fresh process or a fresh app.

    python3 benchmarks/press_to_ready.py --model PATH --device cuda:0 [--runs 3] [--out F.json]
    python3 benchmarks/press_to_ready.py --model demo --device cpu --runs 1   # CPU dry run

Four ways to get a loaded model, each run --runs times, alternated (peer, cli, tui, tui-prestart,
peer, ...) so a drift of the machine hits them alike:

- peer: `python -c` that imports torch and transformers, then
  `AutoModelForCausalLM.from_pretrained(path, dtype="auto", device_map=DEVICE)` (the image-text
  class for a vision model) and synchronises the device; timed from the process's spawn to the
  line it prints when the model is on the device. What a user types without the console.
- cli: `autoglm-console load PATH --device DEVICE --json`, from the spawn to its `loaded` event
  (the engine process starts on that command: its imports are inside the time).
- tui: the real app (ConsoleApp under Textual's Pilot, 120x40, the real telemetry), prestart off:
  from just before `L` to the session's state `loaded`; the engine starts on that `L`.
- tui-prestart: the same app with prestart on (the default): the console started its engine when
  it opened; `L` is pressed --wait-s seconds later (time to read the screen). Engine start is
  outside the time, as it is for the user.

Ratio = peer median / this median (higher is faster). Target (issue 19): >= 2x. The page cache
is warm for every run (the files are read once first). Prints a table; --out writes JSON.
Not a test: numbers depend on the machine and what else it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_speed import child_env, read_files, weight_files  # noqa: E402

PEER = r"""
import sys, json
args = json.loads(sys.argv[1])
import torch, transformers
from transformers import AutoConfig
config = AutoConfig.from_pretrained(args["path"])
name = "AutoModelForImageTextToText" if getattr(config, "vision_config", None) is not None \
    else "AutoModelForCausalLM"
model = getattr(transformers, name).from_pretrained(args["path"], dtype="auto",
                                                    device_map=args["device"])
if args["device"].startswith("cuda"):
    torch.cuda.synchronize()
print("READY", flush=True)
"""


def until_line(cmd: list[str], marker: Any, timeout: float) -> float:
    """Spawn `cmd`; seconds from the spawn to the first stdout line `marker(line)` accepts."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), cwd=str(ROOT))
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if marker(line):
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                break
        err = proc.stderr.read()[-1500:] if proc.stderr else ""
        raise RuntimeError(f"{cmd[:4]}... ended without the ready line: {err}")
    finally:
        proc.kill()
        proc.wait()


def run_peer(path: str, device: str, timeout: float) -> float:
    arg = json.dumps({"path": path, "device": device})
    return until_line([sys.executable, "-c", PEER, arg], lambda line: line.startswith("READY"),
                      timeout)


def _is_loaded(line: str) -> bool:
    try:
        return bool(json.loads(line).get("event") == "loaded")
    except (ValueError, AttributeError):
        return False


def run_cli(path: str, device: str, timeout: float) -> float:
    cmd = [sys.executable, "-m", "console.cli", "load", path, "--device", device, "--json"]
    return until_line(cmd, _is_loaded, timeout)


async def run_tui(path: str, device: str, prestart: bool, wait_s: float,
                  timeout: float) -> float:
    from textual.widgets import Input

    from console.app import ConsoleApp
    from console.host.config import Config
    from console.host.telemetry import Telemetry

    app = ConsoleApp(Config(), Telemetry(), initial_model=path, prestart=prestart,
                     cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.perf_counter() + (wait_s if prestart else 0.5)
        while time.perf_counter() < deadline:
            await pilot.pause(0.05)
        if prestart and app.session.hello is None:
            raise RuntimeError(f"the prestarted engine was not ready after {wait_s:g} s")
        await pilot.press("2")
        app.query_one("#device", Input).value = device
        app.set_focus(None)
        await pilot.pause(0.05)
        pressed = time.perf_counter()
        await pilot.press("L")
        limit = pressed + timeout
        while app.session.engine != "loaded" and time.perf_counter() < limit:
            await pilot.pause(0.005)
        ready = time.perf_counter() - pressed
        if app.session.engine != "loaded":
            raise RuntimeError(f"the load did not finish: {app.session.result}")
        await pilot.press("U")
        await pilot.pause(0.5)
        await pilot.press("q", "q")
    return ready


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a model directory, or 'demo'")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--wait-s", type=float, default=15.0,
                    help="seconds between the console opening and L with prestart")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--modes", default="peer,cli,tui,tui-prestart")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    path = args.model
    if path == "demo":  # built once, outside the time
        subprocess.run([sys.executable, "-m", "console.cli", "load", "demo", "--device", "cpu"],
                       check=True, capture_output=True, env=child_env(), cwd=str(ROOT))
        from console.host.demo_model import resolve_demo

        path = str(resolve_demo())
    read_files(weight_files(Path(path)))  # warm: every run reads from the page cache
    modes = args.modes.split(",")
    times: dict[str, list[float]] = {m: [] for m in modes}
    errors: dict[str, str] = {}
    for run in range(args.runs):
        for mode in modes:
            if mode in errors:
                continue
            try:
                if mode == "peer":
                    secs = run_peer(path, args.device, args.timeout)
                elif mode == "cli":
                    secs = run_cli(path, args.device, args.timeout)
                else:
                    secs = asyncio.run(run_tui(path, args.device, mode == "tui-prestart",
                                               args.wait_s, args.timeout))
            except Exception as exc:
                errors[mode] = f"{type(exc).__name__}: {exc}"[-500:]
                print(f"[press_to_ready] {mode} failed: {errors[mode]}", flush=True)
                continue
            times[mode].append(secs)
            print(f"[press_to_ready] run {run + 1} {mode}: {secs:.2f} s", flush=True)
    peer = statistics.median(times["peer"]) if times.get("peer") else None
    rows = []
    print(f"\npress-to-ready, {path} on {args.device}, warm page cache, {args.runs} runs each")
    print(f"{'mode':<13} {'median s':>9} {'min s':>7} {'max s':>7} {'vs peer':>8}  target")
    for mode in modes:
        ts = times[mode]
        med = statistics.median(ts) if ts else None
        ratio = peer / med if peer and med else None
        target = ""
        if mode != "peer" and ratio is not None:
            target = f">= 2x: {'met' if ratio >= 2 else 'NOT met'}"
        rows.append({"mode": mode, "seconds": ts, "median_s": med, "ratio_vs_peer": ratio,
                     "error": errors.get(mode)})
        cells = (f"{med:>9.2f} {min(ts):>7.2f} {max(ts):>7.2f}" if ts
                 else f"{'-':>9} {'-':>7} {'-':>7}")
        print(f"{mode:<13} {cells} {f'{ratio:.2f}x' if ratio else '-':>8}  {target}")
        if mode in errors:
            print(f"{'':<13} ! {errors[mode][:200]}")
    if args.out:
        args.out.write_text(json.dumps({"model": path, "device": args.device, "runs": args.runs,
                                        "wait_s": args.wait_s, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    # server logs, model text and child stderr are printed: made terminal-safe
    from console.core.termsafe import safe_std_streams

    with safe_std_streams():
        raise SystemExit(main())
