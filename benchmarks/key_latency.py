"""Key-to-screen latency of the console while a model load runs.

    python benchmarks/key_latency.py [--presses 100] [--slow-load-s 0.5]
    python benchmarks/key_latency.py --model PATH --device cuda --slow-load-s 0   # GPU host

The real app (ConsoleApp, real Telemetry sampler, real engine child process) runs in-process
under Textual's Pilot (`app.run_test`) at 120x40. The load: the demo model with each tensor
slowed by AUTOGLM_ENGINE_TEST_SLOW_LOAD_S (docs/engine.md), so it runs long enough on a CPU
box; or --model PATH (with --device) for a real big load. During the load, `1` and `2` are
pressed alternately (Dashboard / Model tab), --presses times, --gap-s apart.

What is measured: from just before `pilot.press(key)` to the first frame the app hands to its
display (`App._display`, wrapped here; in a real terminal that is where the frame is written)
with the new tab active. That covers the key event's dispatch, the binding's action, the tab
switch, layout and the compositor's render, and every stall of the app's event loop in between
(the sampler's ticks, the engine's messages arriving).

Limits (honest): Pilot posts key events straight to the app, so the terminal's input parsing
and the driver thread are skipped, and the frame is not actually written to a terminal (the
headless driver drops it), so the write and the terminal's own drawing are not counted. Those
add roughly a millisecond locally; over SSH add the network round trip. "load running" is read
from the state line just before each press: every press made while the load ran is counted,
also one whose frame came after the load ended (counting only presses with the load running at
both ends, as this script did until session 6, drops exactly the slow ones; on an H200 an 8B
load is ~1.2 s). "not counted" = presses made between loads. A load that ends before the presses
do is unloaded (`U`) and started again (`L`), --cold dropping the page cache first.

Target: p99 <= 100 ms (the UI stays responsive during a load). Not a test: numbers
depend on the machine and what else it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.widgets import Input, Static

from console.app import ConsoleApp
from console.engines.local import EngineClient, OnMessage
from console.host.config import Config
from console.host.telemetry import Telemetry

TARGET_P99_MS = 100.0
TAB_OF_KEY = {"1": "dashboard", "2": "model"}


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def drop_page_cache() -> None:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        print(f"cannot drop the page cache: {exc}", file=sys.stderr)


class StackSampler(threading.Thread):
    """While a press waits for its frame (after the first `after_s`), samples the UI thread's
    stack every `every_s` (`sys._current_frames`): where the event loop spends a slow press.
    Each sample is the stack as "file:function" frames, innermost first, without asyncio's.
    Costs the UI thread a GIL hand-over per sample, only during slow presses."""

    def __init__(self, ui_thread: int, every_s: float = 0.002, after_s: float = 0.02) -> None:
        super().__init__(name="stack-sampler", daemon=True)
        self.ui_thread = ui_thread
        self.every_s = every_s
        self.after_s = after_s
        self.press_started: float | None = None
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self.done = threading.Event()

    def begin(self) -> None:
        self.samples = []
        self.press_started = time.perf_counter()

    def end(self, until: float) -> list[tuple[str, ...]]:
        """Stop; the stacks sampled before `until` (the frame)."""
        self.press_started = None
        return [stack for t, stack in self.samples if t <= until]

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            started = self.press_started
            if started is None or time.perf_counter() - started < self.after_s:
                continue
            now = time.perf_counter()
            frame = sys._current_frames().get(self.ui_thread)
            stack: list[str] = []
            while frame is not None and len(stack) < 40:
                path = frame.f_code.co_filename
                if "asyncio" not in path:
                    stack.append(f"{Path(path).parent.name}/{Path(path).name}:"
                                 f"{frame.f_code.co_name}")
                frame = frame.f_back
            if self.press_started is not None:
                self.samples.append((now, tuple(stack)))


def where(samples: list[tuple[str, ...]], depth: int = 2) -> list[tuple[str, int]]:
    """The commonest stacks of the samples, with counts: the innermost `depth` frames, then
    the innermost frame of the project's own code (console/, widgets/) under them."""
    def key(stack: tuple[str, ...]) -> str:
        own = next((f for f in stack if f.startswith(("console/", "widgets/"))), "-")
        return " < ".join(stack[:depth]) + f" @ {own}"

    return Counter(key(s) for s in samples).most_common(8)


def state_line(app: ConsoleApp) -> str:
    return str(app.query_one("#state-line", Static).render())


async def measure(args: argparse.Namespace) -> int:
    env = {"AUTOGLM_ENGINE_TEST_SLOW_LOAD_S": str(args.slow_load_s)} if args.slow_load_s else {}

    def factory(on_message: OnMessage) -> EngineClient:
        return EngineClient(on_message=on_message, env=env)

    app = ConsoleApp(Config(interval_s=args.interval_s), Telemetry(), initial_model=args.model,
                     engine_factory=factory, cursor_blink=False,
                     freeze_startup_objects=True)  # as run_app, which the user runs
    # Every frame the app hands to its display: (time, active tab at that moment).
    frames: list[tuple[float, str]] = []
    display = app._display

    def recording_display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            frames.append((time.perf_counter(), str(app.active_tab)))
        display(screen, renderable)

    app._display = recording_display  # type: ignore[method-assign]

    latencies_ms: list[float] = []
    presses: list[dict[str, Any]] = []  # every counted press, for --out
    load_started = 0.0
    discarded = 0
    loads = 0
    # Full (generation-2) collections in this process: when, and how long.
    collections: list[tuple[float, float]] = []
    gc_start: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            gc_start[:] = [time.perf_counter()]
        elif gc_start:
            collections.append((gc_start[0], time.perf_counter()))

    gc.callbacks.append(on_gc)
    sampler = StackSampler(threading.get_ident())
    sampler.start()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        app.set_focus(None)
        if args.device:
            app.query_one("#device", Input).value = args.device

        async def wait_state(*states: str) -> str | None:
            deadline = time.monotonic() + args.start_timeout_s
            while time.monotonic() < deadline:
                line = state_line(app)
                for state in states:
                    if f"state: {state}" in line:
                        return state
                await pilot.pause(0.02)
            print(f"waited {args.start_timeout_s:.0f} s for {states}: {state_line(app)}",
                  file=sys.stderr)
            return None

        async def start_load() -> bool:
            """A fast load (an 8B from the page cache takes ~2 s on the H100) ends before the
            presses do: unload and load again, so every counted press falls inside a load."""
            nonlocal loads, load_started
            await pilot.press("2")  # the model keys act on the Model tab
            if loads:
                if await wait_state("loaded", "idle", "error") == "loaded":
                    await pilot.press("U")
                    if await wait_state("idle") is None:
                        return False
                if args.cold:
                    drop_page_cache()
            await pilot.press("L")
            # A load can end between two polls (a small model from the page cache): then
            # there was nothing to press during; unload and load again.
            if await wait_state("loading", "loaded") is None:
                return False
            load_started = time.perf_counter()
            loads += 1
            print(f"load {loads} running: {state_line(app)}", flush=True)
            return True

        if not await start_load():
            return 1
        while len(latencies_ms) < args.presses:
            key = "1" if len(latencies_ms) % 2 == 0 else "2"
            if "state: loading" not in state_line(app) and not await start_load():
                return 1
            loading_at_press = "state: loading" in state_line(app)
            first_frame = len(frames)
            started = time.perf_counter()
            sampler.begin()
            await pilot.press(key)
            shown_at = None
            wait_deadline = time.monotonic() + 5.0
            while shown_at is None and time.monotonic() < wait_deadline:
                shown_at = next((t for t, tab in frames[first_frame:]
                                 if tab == TAB_OF_KEY[key]), None)
                if shown_at is None:
                    await asyncio.sleep(0.001)
            stacks = sampler.end(shown_at if shown_at is not None else time.perf_counter())
            if shown_at is None:
                print(f"press {len(latencies_ms)}: no frame with the {TAB_OF_KEY[key]} tab in 5 s",
                      file=sys.stderr)
                return 1
            # Count every press made while the load was running, also one whose frame came
            # after the load ended (dropping those would drop exactly the slow presses).
            if loading_at_press:
                latencies_ms.append((shown_at - started) * 1000)
                gc_ms = sum(max(0.0, min(b, shown_at) - max(a, started))
                            for a, b in collections) * 1000
                presses.append({"latency_ms": latencies_ms[-1], "load": loads,
                                "since_load_start_s": started - load_started,
                                "gen2_gc_ms_during": gc_ms,
                                "stacks": where(stacks, args.stack_depth)})
            else:
                discarded += 1
            await pilot.pause(args.gap_s)
        final_state = state_line(app)
        # Leaving run_test shuts the app down, which ends the engine child.

    gc.callbacks.remove(on_gc)
    sampler.done.set()
    p99 = percentile(latencies_ms, 0.99)
    print()
    print(f"key-to-frame latency, tab switch 1/2, during a load of {args.model} "
          f"(slow load {args.slow_load_s} s/tensor, device {args.device or 'default'})")
    print(f"{'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'loads':>6} "
          f"{'not counted':>12}  target p99")
    print(f"{len(latencies_ms):>5} {statistics.median(latencies_ms):>8.1f} "
          f"{percentile(latencies_ms, 0.90):>8.1f} {p99:>8.1f} {max(latencies_ms):>8.1f}  "
          f"{loads:>6} {discarded:>12}  <= {TARGET_P99_MS:.0f} ms: "
          f"{'met' if p99 <= TARGET_P99_MS else 'MISSED'}")
    print(f"state at the end: {final_state}")
    slowest = sorted(presses, key=lambda p: -p["latency_ms"])[:5]
    print("slowest presses (ms, s since the load was seen starting, ms of full GC during): "
          + "; ".join(f"{p['latency_ms']:.0f}, {p['since_load_start_s']:.2f}, "
                      f"{p['gen2_gc_ms_during']:.0f}" for p in slowest))
    slow = [p for p in presses if p["latency_ms"] > args.slow_ms]
    totals: Counter[str] = Counter()
    for p in slow:
        for where_, n in p["stacks"]:
            totals[where_] += n
    print(f"where the UI thread was during the {len(slow)} presses over {args.slow_ms:.0f} ms "
          f"(samples every 2 ms after the first 20 ms of a press; innermost frame first):")
    for where_, n in totals.most_common(12):
        print(f"  {n:>5}  {where_}")
    print(f"full collections in the app process: {len(collections)}, longest "
          f"{max(((b - a) * 1000 for a, b in collections), default=0):.1f} ms")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "model": args.model, "device": args.device, "presses": presses,
            "not_counted": discarded, "loads": loads, "p99_ms": p99,
            "full_collections_ms": [(b - a) * 1000 for a, b in collections]}, indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="model to load (default: demo)")
    parser.add_argument("--device", default="", help="device for the load (default: the app's)")
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--gap-s", type=float, default=0.05, help="pause between presses")
    parser.add_argument("--slow-load-s", type=float, default=0.5,
                        help="AUTOGLM_ENGINE_TEST_SLOW_LOAD_S: sleep per tensor (0: off)")
    parser.add_argument("--interval-s", type=float, default=1.0, help="sampling interval")
    parser.add_argument("--start-timeout-s", type=float, default=120.0)
    parser.add_argument("--cold", action="store_true",
                        help="drop the page cache before each reload (root): slower loads")
    parser.add_argument("--slow-ms", type=float, default=50.0,
                        help="presses slower than this get their UI-thread stacks summed")
    parser.add_argument("--stack-depth", type=int, default=2,
                        help="innermost frames per stack sample in the summary")
    parser.add_argument("--out", default="", help="write every counted press to this JSON file")
    args = parser.parse_args()
    return asyncio.run(measure(args))


if __name__ == "__main__":
    # server logs, model text and child stderr are printed: made terminal-safe
    from console.core.termsafe import safe_std_streams

    with safe_std_streams():
        sys.exit(main())
