"""Time from `L` to the first progress event on the demo, with and without prestart.

    python benchmarks/prestart.py [--runs 3] [--wait-s 8] [--model demo]

The real app (ConsoleApp, the real engine child process, a fixed CPU-only sample so NVML does
not matter) runs headless under Textual's Pilot at 120x40. With prestart the console starts
its engine when it opens; the user presses `L` --wait-s seconds later (time to read the
screen), by when the engine has imported torch and transformers. Without prestart the engine
starts on that `L` and the load waits for the imports. Measured: from just before
`pilot.press("L")` to the first `progress` event folded into the session (the first figure the
user sees move), and to `loaded`. Each run is a fresh app and a fresh engine process; the demo
is built once before the runs (its first load builds it).

Prints a table. Not a test: numbers depend on the machine and what else it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.app import ConsoleApp
from console.core.sample import HostSample, NvmlStatus, Sample
from console.host.config import Config

GIB = 1024**3


class QuietSampler:
    """One CPU-only sample, always: the benchmark measures the engine, not NVML."""

    def sample(self) -> Sample:
        host = HostSample(cpu_percent=10.0, cpu_percent_per_core=(10.0, 10.0),
                          load_average=(1.0, 1.0, 1.0), ram_total_bytes=16 * GIB,
                          ram_available_bytes=12 * GIB, ram_used_bytes=4 * GIB,
                          swap_total_bytes=0, swap_used_bytes=0, swap_in_bytes_per_s=0.0,
                          swap_out_bytes_per_s=0.0, disk_read_bytes_per_s=0.0)
        now = time.time()
        return Sample(timestamp=now, monotonic=time.monotonic(),
                      nvml=NvmlStatus("no_driver", message="benchmark"), gpus=(), host=host)


async def one_run(model: str, prestart: bool, wait_s: float) -> tuple[float, float, float]:
    """(L -> first progress, L -> loaded, engine start -> hello) in seconds."""
    app = ConsoleApp(Config(), QuietSampler(), initial_model=model, prestart=prestart,
                     cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        opened = time.perf_counter()
        hello_at: float | None = None
        deadline = opened + wait_s
        while time.perf_counter() < deadline:
            if hello_at is None and app.session.hello is not None:
                hello_at = time.perf_counter()
            await pilot.pause(0.02)
        await pilot.press("2")
        app.set_focus(None)
        pressed = time.perf_counter()
        await pilot.press("L")
        first = loaded = None
        limit = pressed + 300
        while loaded is None and time.perf_counter() < limit:
            now = time.perf_counter()
            if first is None and app.session.progress is not None:
                first = now
            if app.session.engine == "loaded":
                loaded = now
                first = first or now
            if hello_at is None and app.session.hello is not None:
                hello_at = now
            await pilot.pause(0.005)
        if first is None or loaded is None:
            raise SystemExit(f"the load did not finish: {app.session.result}")
        await pilot.press("q", "q")
    start_to_hello = (hello_at - opened) if hello_at is not None and prestart else float("nan")
    return first - pressed, loaded - pressed, start_to_hello


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wait-s", type=float, default=8.0,
                        help="seconds between the console opening and L")
    parser.add_argument("--model", default="demo")
    args = parser.parse_args()
    # The demo is built by its first load: once, before anything is timed.
    asyncio.run(one_run(args.model, prestart=False, wait_s=0.5))
    rows = []
    for prestart in (False, True):
        firsts, loads, hellos = [], [], []
        for _ in range(args.runs):
            first, loaded, hello = asyncio.run(one_run(args.model, prestart, args.wait_s))
            firsts.append(first)
            loads.append(loaded)
            hellos.append(hello)
        rows.append((prestart, firsts, loads, hellos))
    print(f"model {args.model}, {args.runs} runs each, L pressed {args.wait_s:g} s after the "
          "console opened")
    print(f"{'prestart':<9} {'L->first progress (median, max)':<34} {'L->loaded (median)':<20}"
          f" {'engine start->hello':<20}")
    for prestart, firsts, loads, hellos in rows:
        hello = statistics.median(hellos)
        print(f"{'on' if prestart else 'off':<9} "
              f"{statistics.median(firsts) * 1000:>8.0f} ms, {max(firsts) * 1000:>6.0f} ms"
              f"{'':<16} {statistics.median(loads) * 1000:>8.0f} ms{'':<9} "
              f"{'-' if math.isnan(hello) else f'{hello:.2f} s'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
