#!/usr/bin/env python3
"""Paging a large log in the console's pager (`w`, widgets/file_pager.py): time and memory.

    .venv/bin/python benchmarks/file_pager.py [--mb 200] [--jumps 1000] [--pages 2000]

Writes a log of about --mb MB (logfollow_open's lines: INFO records, progress bars, a traceback
every 5,000 lines), opens it in the pager inside a headless Textual app (`App.run_test`, 100x30)
and measures: the first screen (the file's last lines rendered by the compositor; the app is
busy a while longer, as the index thread shares the interpreter), the index complete (every line
reachable), Home, --jumps go-to-line jumps to random lines (each drawn), --pages page-downs
from the middle, a text that is nowhere (one pass over the whole file), the next error from the
top and its causes shown under the file (the process's first diagnosis: it reads the rules); the
process's RSS before the file is opened, after the index, and the most seen while
scrolling. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from logfollow_open import write_log
from textual.app import App
from textual.strip import Strip
from textual.widgets import Input

from widgets.file_pager import FilePager, FilePagerScreen

_DRAWN: list[float] = []  # when the compositor first rendered a row of the file's text
_render_line = FilePager.render_line


def _recording_render_line(pager: FilePager, y: int) -> Strip:
    strip = _render_line(pager, y)
    if not _DRAWN and any(w in strip.text for w in ("Traceback", "step", "Loading")):
        _DRAWN.append(time.perf_counter())
    return strip


FilePager.render_line = _recording_render_line  # type: ignore[method-assign,assignment]


async def measure(path: Path, jumps: int, pages: int) -> dict[str, float]:
    proc = psutil.Process()
    out: dict[str, float] = {}
    app: App[None] = App()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        out["rss0"] = proc.memory_info().rss
        _DRAWN.clear()
        t0 = time.perf_counter()
        screen = FilePagerScreen(path)
        app.push_screen(screen)
        await pilot.pause()
        pager = screen.pager
        rows = pager.scrollable_content_region.height
        while not any("Traceback" in s.text or "step" in s.text or "Loading" in s.text
                      for y in range(rows) for s in pager.render_line(y)):
            await pilot.pause(0.001)
        out["idle"] = time.perf_counter() - t0
        out["first"] = _DRAWN[0] - t0
        while not pager.indexed:
            await pilot.pause(0.01)
        out["index"] = time.perf_counter() - t0
        out["rss1"] = proc.memory_info().rss
        peak = out["rss1"]
        t = time.perf_counter()
        await pilot.press("home")
        for y in range(rows):
            pager.render_line(y)
        out["home"] = time.perf_counter() - t
        rng = random.Random(7)
        t = time.perf_counter()
        for _ in range(jumps):
            pager.go_to(rng.randrange(pager.line_count))
            for y in range(rows):
                pager.render_line(y)
            peak = max(peak, proc.memory_info().rss)
        out["jump"] = (time.perf_counter() - t) / jumps
        pager.go_to(pager.line_count // 2)
        t = time.perf_counter()
        for _ in range(pages):
            await pilot.press("pagedown")
        await pilot.pause()
        out["pages"] = (time.perf_counter() - t) / pages
        peak = max(peak, proc.memory_info().rss)
        out["pages_held"] = pager.pages_held
        for what, key in (("find", "no such text anywhere"), ("error", "")):
            pager.go_to(0)
            if key:
                await pilot.press("slash")
                screen.query_one("#pager-ask", Input).value = key
                t = time.perf_counter()
                await pilot.press("enter")
                while "no “" not in screen.status:
                    await pilot.pause(0.005)
            else:
                await pilot.press("slash")  # an empty find: n goes to errors again
                screen.query_one("#pager-ask", Input).value = ""
                await pilot.press("enter")
                t = time.perf_counter()
                await pilot.press("n")
                while not screen.status.startswith("error at"):
                    await pilot.pause(0.005)
                out[what] = time.perf_counter() - t
                while screen.diagnosed_line is None:  # the first diagnosis reads the rules
                    await pilot.pause(0.005)
                out["causes"] = time.perf_counter() - t
                continue
            out[what] = time.perf_counter() - t
        out["peak"] = max(peak, proc.memory_info().rss)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--jumps", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.log"
        lines = write_log(path, args.mb)
        size = path.stat().st_size
        r = asyncio.run(measure(path, args.jumps, args.pages))
    mib = 2**20
    print(f"file: {size / mib:.0f} MiB, {lines:,} lines; cpu count {os.cpu_count()}")
    print(f"{'what':52s} {'value':>12s}")
    print(f"{'first screen (the last lines drawn)':52s} {r['first'] * 1000:10.1f} ms")
    print(f"{'  the app idle again (the index thread shares it)':52s} "
          f"{r['idle'] * 1000:10.1f} ms")
    print(f"{'index complete (every line reachable)':52s} {r['index']:10.2f} s")
    print(f"{'Home (first line drawn)':52s} {r['home'] * 1000:10.1f} ms")
    print(f"{f'go to a random line, drawn (mean of {args.jumps:,})':52s} "
          f"{r['jump'] * 1000:10.2f} ms")
    print(f"{f'page down from the middle (mean of {args.pages:,})':52s} "
          f"{r['pages'] * 1000:10.2f} ms")
    print(f"{'find a text that is nowhere (the whole file)':52s} {r['find']:10.2f} s")
    print(f"{'next error from the top':52s} {r['error'] * 1000:10.1f} ms")
    print(f"{'  its causes shown (the first diagnosis: rules read)':52s} "
          f"{r['causes'] * 1000:10.1f} ms")
    print(f"{'pages held at the end':52s} {r['pages_held']:10.0f}")
    print(f"{'RSS growth after the index':52s} {(r['rss1'] - r['rss0']) / mib:10.1f} MiB")
    print(f"{'RSS growth, most while scrolling and finding':52s} "
          f"{(r['peak'] - r['rss0']) / mib:10.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
