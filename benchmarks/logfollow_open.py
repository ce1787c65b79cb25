#!/usr/bin/env python3
"""Opening and indexing a large log in follow mode: time to first screen, time to full index, RSS.

    .venv/bin/python benchmarks/logfollow_open.py [--mb 200]

Writes a log of about --mb MB (timestamped INFO lines, progress bars, a traceback every 5,000
lines) to a temporary file, then measures: LogFile() + the last 50 lines (what a viewer shows
first), the background index to completion, reading 50 lines in the middle, and the process's
RSS before and after. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from console.host.logfollow import LogFile

BLOCK = (
    "2026-12-04 10:00:{s:02d},123 INFO worker.py:88] step {i} loss 1.234 lr 2e-5 tokens/s 1234.5\n"
    "Loading checkpoint shards:  50%|#####     | 2/4 [00:01<00:01,  1.10s/it]\n"
)
TRACE = (
    'Traceback (most recent call last):\n  File "/srv/run.py", line 3, in <module>\n'
    "    model.to('cuda')\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n"
)


def write_log(path: Path, megabytes: int) -> int:
    target = megabytes << 20
    lines = 0
    with open(path, "w", encoding="utf-8") as fh:
        written = 0
        i = 0
        while written < target:
            chunk = "".join(BLOCK.format(s=i % 60, i=i + k) for k in range(2500)) + TRACE
            fh.write(chunk)
            written += len(chunk)
            lines += 5004
            i += 2500
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.log"
        write_log(path, args.mb)
        size = path.stat().st_size
        rss0 = proc.memory_info().rss
        t0 = time.perf_counter()
        log = LogFile(path)
        first = log.tail_lines(50)
        t_open = time.perf_counter() - t0
        log.seek_end()
        log.start_indexing()
        log.indexed.wait()
        t_index = time.perf_counter() - t0
        t1 = time.perf_counter()
        middle = log.lines(log.line_count // 2, 50)
        t_mid = time.perf_counter() - t1
        rss1 = proc.memory_info().rss
        count = log.line_count
        log.close()
    assert len(first) == 50 and len(middle) == 50
    print(f"file: {size / 2**20:.0f} MiB, {count:,} lines; cpu count {os.cpu_count()}")
    print(f"{'what':40s} {'value':>12s}")
    print(f"{'open + last 50 lines (first screen)':40s} {t_open * 1000:10.1f} ms")
    print(f"{'background index complete':40s} {t_index:10.2f} s")
    print(f"{'50 lines from the middle':40s} {t_mid * 1000:10.2f} ms")
    print(f"{'RSS growth (index: 8 bytes a line)':40s} {(rss1 - rss0) / 2**20:10.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
