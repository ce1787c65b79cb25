"""`autoglm-console run [--json] -- CMD ...`: run any command under the console's supervision.

The command runs as its own process group: its output is shown cleaned (no escape sequences)
and diagnosed live (causes by id); its tree's RSS (and VRAM from NVML) is sampled; the guard
pauses the group with SIGSTOP at a pause level and resumes it with SIGCONT (auto-resume), and
stops it at an abort level; Ctrl-C stops it (SIGINT, SIGTERM, SIGKILL after stated delays).
When it ends its exit is explained and its exit code passed on (128 + N for signal N).
`--json`: one JSON event per line: started, log, memory (rss_bytes samples), diagnosis (causes
by id), paused/resumed/aborted, exit (code, why, causes).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from console.host.config import Config

# `-- WORDS` after the command's own options land here, untouched by argparse.
REMAINDER_DEST = "cmd"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "cmd", nargs="*", metavar="CMD", help="after '--': the command and its arguments"
    )
    parser.add_argument("--json", action="store_true", help="JSON events, one per line")
    parser.add_argument(
        "--sample-seconds",
        type=float,
        default=0.5,
        help="seconds between memory samples (default 0.5)",
    )
    parser.add_argument(
        "--no-guard", action="store_true", help="do not pause/abort on memory levels"
    )
    parser.add_argument(
        "--clean-shm",
        action="store_true",
        help="remove the /dev/shm files it left behind (they are named either way)",
    )


def run(args: argparse.Namespace, config: Config) -> int:
    from console.commands.serve import _Printer
    from console.engines.supervise import GuardOptions, ProcessWatch
    from console.host import procs
    from console.host.telemetry import Telemetry

    if not args.cmd:
        print(
            "autoglm-console run: no command given: autoglm-console run -- CMD [ARGS...]",
            file=sys.stderr,
        )
        return 2
    printer = _Printer(args.json)
    guard = None if args.no_guard else GuardOptions(config.thresholds, config.auto_resume)
    watch = ProcessWatch(
        args.cmd,
        printer,
        sample_s=max(0.1, args.sample_seconds),
        telemetry=Telemetry(),
        guard_options=guard,
    )
    stop_now = threading.Event()
    shm_before = procs.shm_snapshot()
    previous = signal.signal(signal.SIGINT, lambda *_: stop_now.set())
    try:
        watch.start()
    except procs.ProcsError as exc:
        signal.signal(signal.SIGINT, previous)
        print(f"autoglm-console run: {exc}", file=sys.stderr)
        return 127
    try:
        while watch.wait(0.2) is None and not watch._done.is_set():
            if stop_now.is_set():
                watch.stop()
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        watch.close()
    code = watch.wait(10)
    report_shm(printer, procs.shm_leftovers(shm_before), clean=args.clean_shm)
    if not args.json:
        ids = ", ".join(watch.causes) or "none recognised"
        print(
            f"autoglm-console run: {args.cmd[0]}: {procs.describe_exit(code)}; causes: {ids}; "
            f"peak RSS {watch.peak_rss_bytes / 2**20:.0f} MiB",
            file=sys.stderr,
        )
    return procs.shell_exit_code(code)


def report_shm(printer: Callable[[dict[str, Any]], None], left: list[Any], *, clean: bool) -> None:
    """Name the /dev/shm files a dead process left behind; remove them when asked."""
    from console.host import procs

    problems = procs.remove_shm(left) if clean else []
    printer(
        {
            "event": "shm",
            "removed": clean and not problems,
            "problems": problems,
            "leftovers": [{"path": str(f.path), "size_bytes": f.size_bytes} for f in left],
        }
    )
