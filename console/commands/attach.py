"""`autoglm-console attach PID [--log FILE] [--url URL] [--json] [--seconds N]`: watch a process
started elsewhere: its process tree's RSS and VRAM, its log file followed and diagnosed live,
its `/health` and `/metrics` (when a URL is given). Stops watching when the process ends, after
`--seconds`, or on Ctrl-C (the process itself is left alone). Exit 0; 2 when PID is not there.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from console.host.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pid", type=int, metavar="PID", help="the process to watch")
    parser.add_argument("--log", metavar="FILE", help="its log file, followed from the end")
    parser.add_argument("--url", metavar="URL", help="its server's base URL (health, metrics)")
    parser.add_argument("--engine", default="vllm", help="metric names to read (vllm, sglang)")
    parser.add_argument("--json", action="store_true", help="JSON events, one per line")
    parser.add_argument("--seconds", type=float, default=None, help="stop watching after N s")
    parser.add_argument(
        "--interval",
        dest="attach_interval",
        type=float,
        default=1.0,
        help="seconds between samples (default 1)",
    )
    parser.add_argument("--from-start", action="store_true", help="read the log from its start")


def run(args: argparse.Namespace, config: Config) -> int:
    from console.commands.serve import _Printer
    from console.engines.attached import Attached

    printer = _Printer(args.json)
    try:
        watcher = Attached(
            args.pid,
            printer,
            log=args.log,
            url=args.url,
            engine=args.engine,
            interval_s=args.attach_interval,
            from_start=args.from_start,
        )
    except LookupError as exc:
        print(f"autoglm-console attach: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        watcher.run(seconds=args.seconds)
    return 0
