"""The kernel log's word on the engine's death: the line naming its PID as OOM-killed.

`kernel_oom(pid)` reads the kernel log (`/dev/kmsg` without blocking, else `dmesg`, else
`journalctl -k`) and returns the line that names the engine's PID (console/core/kernlog.py
parses it), or a note saying the log was not readable or held no such line: the card then
says so instead of nothing. Read only when the engine dies by SIGKILL (the app imports this
module then: nothing of it is paid at startup).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from console.core.kernlog import find_oom_kill

KMSG = Path("/dev/kmsg")
# Readers tried after /dev/kmsg, in order: (label, argv).
KERNEL_LOG_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dmesg", ("dmesg",)),
    ("journalctl -k", ("journalctl", "-k", "-b", "-n", "20000", "--no-pager", "-o", "short")),
)
MAX_LINES = 20_000  # the newest lines kept (an OOM report is among the last ones)
MAX_KMSG_BYTES = 16 * 1024 * 1024
COMMAND_TIMEOUT_S = 1.5


class KernelLog(NamedTuple):
    lines: list[str] | None  # None: no reader could read it
    source: str  # the reader that did ("/dev/kmsg", "dmesg", "journalctl -k"), or ""
    problems: tuple[str, ...]  # why the readers before it (or all of them) failed


class KernelOom(NamedTuple):
    """What the kernel log says about the engine's death: `line` the quoted OOM-kill line
    naming its PID (None when there is none), `note` a line for the card either way."""

    line: str | None
    note: str


def _read_kmsg(path: Path, max_lines: int) -> list[str]:
    """Every record in the kernel's ring buffer, without blocking at its end (a regular file
    in the same format reads the same way)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    lines: deque[str] = deque(maxlen=max_lines)
    partial = b""
    total = 0
    try:
        while total < MAX_KMSG_BYTES:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break  # the end of the buffer
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # a record was overwritten while we read: go on
                    continue
                raise
            if not chunk:
                break
            total += len(chunk)
            *complete, partial = (partial + chunk).split(b"\n")
            lines.extend(line.decode("utf-8", "replace") for line in complete)
    finally:
        os.close(fd)
    if partial:
        lines.append(partial.decode("utf-8", "replace"))
    return list(lines)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _run(argv: Sequence[str], timeout_s: float) -> tuple[list[str] | None, str]:
    if shutil.which(argv[0]) is None:
        return None, "not installed"
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout_s, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"no answer in {timeout_s:g} s"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    out = done.stdout.decode("utf-8", "replace")
    lines = [line for line in out.splitlines() if line.strip() and not line.startswith("-- ")]
    if done.returncode != 0:
        return None, _first_line(done.stderr.decode("utf-8", "replace")) or (
            f"exit status {done.returncode}")
    if not lines:
        return None, _first_line(done.stderr.decode("utf-8", "replace")) or "no lines"
    return lines[-MAX_LINES:], ""


def read_kernel_log(kmsg: Path | None = None,
                    commands: Sequence[tuple[str, Sequence[str]]] | None = None,
                    timeout_s: float = COMMAND_TIMEOUT_S) -> KernelLog:
    """The kernel log from the first reader that can read it (by default /dev/kmsg, then
    the KERNEL_LOG_COMMANDS)."""
    kmsg = KMSG if kmsg is None else kmsg
    commands = KERNEL_LOG_COMMANDS if commands is None else commands
    problems: list[str] = []
    try:
        lines = _read_kmsg(kmsg, MAX_LINES)
    except OSError as exc:
        problems.append(f"{kmsg}: {exc.strerror or exc}")
    else:
        if lines:
            return KernelLog(lines, str(kmsg), tuple(problems))
        problems.append(f"{kmsg}: empty")
    for label, argv in commands:
        lines_or_none, why = _run(argv, timeout_s)
        if lines_or_none is not None:
            return KernelLog(lines_or_none, label, tuple(problems))
        problems.append(f"{label}: {why}")
    return KernelLog(None, "", tuple(problems))


def kernel_oom(pid: int | None, log: KernelLog | None = None) -> KernelOom:
    """The kernel log's line naming `pid` as OOM-killed (read now unless `log` is given)."""
    log = read_kernel_log() if log is None else log
    if log.lines is None:
        return KernelOom(None, "kernel log not readable (" + "; ".join(log.problems) + ")")
    found = find_oom_kill(log.lines, pid) if pid is not None else None
    if found is None:
        who = f"PID {pid}" if pid is not None else "the engine (PID unknown)"
        return KernelOom(None, f"kernel log ({log.source}): no OOM kill of {who}")
    return KernelOom(found.evidence(), found.evidence())
