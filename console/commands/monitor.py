"""`autoglm-console monitor`: telemetry samples on stdout, without the TUI.

`--once` prints one sample. CPU % and the swap / disk rates need two readings, so `--once`
takes a priming sample, waits PRIME_WAIT_S and prints the second one. Without `--once` it
prints one line (or one JSON object) per interval until Ctrl-C or `--count N` lines.
"""

from __future__ import annotations

import argparse
import sys
import time

from console.core.sample_text import format_line, format_sample, to_json
from console.host.config import MIN_INTERVAL_S, Config

__all__ = ["PRIME_WAIT_S", "add_arguments", "format_line", "format_sample", "run", "to_json"]

PRIME_WAIT_S = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="print one sample and exit")
    parser.add_argument("--json", action="store_true", help="JSON (schema in docs/monitor.md)")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N samples")
    parser.add_argument(
        "--pid", type=int, action="append", default=[], metavar="PID",
        help="also report this process's RSS, CPU and GPU memory (repeatable)",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    from console.host.telemetry import Telemetry

    if args.count is not None and args.count < 1:
        print(f"autoglm-console: monitor: --count: must be at least 1, got {args.count}",
              file=sys.stderr)
        return 2
    telemetry = Telemetry()
    for pid in args.pid:
        telemetry.watch(pid)
    out = sys.stdout
    try:
        telemetry.sample()  # priming: CPU %, swap and disk rates need a previous reading
        time.sleep(PRIME_WAIT_S)
        if args.once:
            sample = telemetry.sample()
            out.write(to_json(sample) + "\n" if args.json else format_sample(sample))
            return 0
        # One sample per interval on this thread: a slow NVML call only delays the next line.
        interval = max(config.interval_s, MIN_INTERVAL_S)
        due = time.monotonic()
        printed = 0
        while args.count is None or printed < args.count:
            time.sleep(max(0.0, due - time.monotonic()))
            due = max(due + interval, time.monotonic())
            sample = telemetry.sample()
            out.write((to_json(sample) if args.json else format_line(sample)) + "\n")
            out.flush()
            printed += 1
        return 0
    except BrokenPipeError:  # `monitor | head`
        return 0
    finally:
        telemetry.close()
