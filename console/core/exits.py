"""How an engine process ended, in words: the one place the "killed by ..." text is built.

`exit_text(returncode, signal)` is what the log, the model view, the notification and the
session log say ("killed by SIGKILL", "exit code 1"); `ended_line` is the session log's record
of it and `parse_ended_line` reads that record back (the bundle rebuilds the exit facts from
it). Pure: no textual, no torch.
"""

from __future__ import annotations

import re
import signal as _signal
from dataclasses import dataclass


def signal_name(returncode: int | None) -> str | None:
    """'SIGKILL' for a process killed by signal 9 (returncode -9), else None."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return _signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def signal_number(name: str | None) -> int | None:
    """9 for 'SIGKILL'; None for None or a name this platform does not know."""
    if not name:
        return None
    try:
        return int(_signal.Signals[name])
    except KeyError:
        return None


def exit_text(returncode: int | None, signal: str | None = None) -> str:
    """'killed by SIGKILL' when a signal ended it, else 'exit code N'."""
    sig = signal or signal_name(returncode)
    return f"killed by {sig}" if sig else f"exit code {returncode}"


def ended_line(pid: int, returncode: int | None, signal: str | None, expected: bool) -> str:
    """The session log's record: 'engine pid 4242 ended (killed by SIGKILL) unexpectedly'."""
    return (f"engine pid {pid} ended "
            f"({exit_text(returncode, signal)}){'' if expected else ' unexpectedly'}")


_ENDED_RE = re.compile(r"engine pid (\d+) ended \((?:killed by (\w+)|exit code (-?\d+|None))\)"
                       r"( unexpectedly)?")


@dataclass(frozen=True, slots=True)
class Ended:
    """An `ended_line` read back."""

    pid: int
    exit_code: int | None  # -N for a signal this platform knows by name
    exit_signal: int | None
    expected: bool


def parse_ended_line(text: str) -> Ended | None:
    """The facts of an `ended_line` found in `text`, or None."""
    m = _ENDED_RE.search(text)
    if m is None:
        return None
    pid, name, code, unexpected = m.groups()
    number = signal_number(name)
    exit_code = int(code) if code not in (None, "None") else (-number if number else None)
    return Ended(int(pid), exit_code, number, expected=not unexpected)
