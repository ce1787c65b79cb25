"""The kernel log's word on an OOM kill: which line names a process by its PID.

When the engine dies by SIGKILL, the kernel's own log line ("Out of memory: Killed process
4242 (python) ...") is the strongest evidence that it was the OOM killer, and not someone
else's `kill -9`. This module reads kernel log text in the forms it reaches us:

- `/dev/kmsg` records: `6,1234,5678901234,-;Out of memory: ...` (continuation lines, which
  start with a space, carry key=value pairs and are skipped);
- `dmesg`: `[ 1234.567890] Out of memory: ...`, `dmesg -T`: `[Sat Dec  5 02:00:00 2026] ...`;
- `journalctl -k` and syslog files: `Dec 05 02:00:00 host kernel: Out of memory: ...`;

and the messages of several kernel generations:

- 5.x and later: `Out of memory: Killed process PID (comm) total-vm:..kB, anon-rss:..kB, ...`
  and `Memory cgroup out of memory: Killed process PID (comm) ...`;
- 4.x and earlier: `Out of memory: Kill process PID (comm) score N or sacrifice child`, then
  `Killed process PID (comm) total-vm:..kB, anon-rss:..kB, file-rss:..kB` (2.6.32:
  `Killed process PID, UID U, (comm) total-vm:...`);
- 4.19 and later, before the kill: `oom-kill:constraint=CONSTRAINT_MEMCG,...,task=comm,pid=PID,
  uid=U`; after it: `oom_reaper: reaped process PID (comm), now anon-rss:0kB, ...`.

Pure: no I/O (console/host/oomkill.py reads the log).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from console.core.termsafe import safe

__all__ = ["OomKill", "find_oom_kill", "message_of", "parse_line"]

MAX_QUOTE = 220  # characters of the kernel's line quoted on a card

_KMSG = re.compile(r"^\d+,\d+,\d+,[^;]*;")
_DMESG = re.compile(r"^\[\s*[^\]]*\]\s?")
_SYSLOG = re.compile(r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)\s+\S+\s+"
                     r"kernel:\s?(?:\[\s*[\d.]+\]\s?)?")
_KILLED = re.compile(r"(?:(?P<memcg>Memory cgroup out of memory: )|Out of memory: |^)"
                     r"Killed process (?P<pid>\d+)(?:, UID \d+,)? \((?P<comm>[^)]*)\)"
                     r"(?:.*?anon-rss:(?P<anon>\d+)kB)?")
_KILL = re.compile(r"(?P<memcg>Memory cgroup )?[Oo]ut of memory: Kill process (?P<pid>\d+) "
                   r"\((?P<comm>[^)]*)\)")
_OOM_KILL = re.compile(r"oom-kill:(?P<fields>\S+)")
_REAPED = re.compile(r"oom_reaper: reaped process (?P<pid>\d+) \((?P<comm>[^)]*)\)")
# Which line says it best, when several name the process.
_STRENGTH = {"killed": 3, "oom-kill": 2, "kill": 1, "reaped": 0}


@dataclass(frozen=True, slots=True)
class OomKill:
    pid: int
    process: str | None  # the kernel's name for it (comm), when the line gives one
    kind: str  # "killed" | "kill" (old kernels' first line) | "oom-kill" | "reaped"
    memcg: bool  # a memory cgroup's limit (a container's), not the whole host
    anon_rss_bytes: int | None  # what the process held, when the line says
    message: str  # the kernel's message, prefix cut, terminal-safe and capped

    def evidence(self) -> str:
        """The card's line: 'kernel log: Out of memory: Killed process 4242 (python) ...'."""
        return f"kernel log: {self.message}"


def message_of(line: str) -> str | None:
    """The kernel's message without the kmsg / dmesg / journal prefix; None for a kmsg
    continuation line (it starts with a space and carries key=value pairs)."""
    if line.startswith(" "):
        return None
    line = line.rstrip("\r\n")
    for prefix in (_KMSG, _SYSLOG, _DMESG):
        m = prefix.match(line)
        if m is not None:
            return line[m.end():]
    return line


def _quote(message: str) -> str:
    text = safe(message.strip())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def parse_line(line: str) -> OomKill | None:
    """The OOM kill a kernel log line reports, or None."""
    message = message_of(line)
    if not message or not any(word in message for word in ("emory", "oom", "Killed process")):
        return None
    m = _KILLED.search(message)
    if m is not None:
        anon = m.group("anon")
        return OomKill(int(m.group("pid")), m.group("comm") or None, "killed",
                       bool(m.group("memcg")), int(anon) * 1024 if anon else None,
                       _quote(message))
    m = _KILL.search(message)
    if m is not None:
        return OomKill(int(m.group("pid")), m.group("comm") or None, "kill",
                       bool(m.group("memcg")), None, _quote(message))
    m = _OOM_KILL.search(message)
    if m is not None:
        fields = dict(part.split("=", 1) for part in m.group("fields").split(",") if "=" in part)
        pid = fields.get("pid", "")
        if pid.isdigit():
            return OomKill(int(pid), fields.get("task") or None, "oom-kill",
                           fields.get("constraint") == "CONSTRAINT_MEMCG", None, _quote(message))
        return None
    m = _REAPED.search(message)
    if m is not None:
        return OomKill(int(m.group("pid")), m.group("comm") or None, "reaped", False, None,
                       _quote(message))
    return None


def find_oom_kill(lines: Iterable[str], pid: int) -> OomKill | None:
    """The line that best says the kernel OOM-killed `pid`: "Killed process" first, then the
    oom-kill summary, the old "Kill process", the reaper; the latest of equals (a PID can be
    used again: the newest kill is the one that matters)."""
    best: OomKill | None = None
    for line in lines:
        found = parse_line(line)
        if found is None or found.pid != pid:
            continue
        if best is None or _STRENGTH[found.kind] >= _STRENGTH[best.kind]:
            best = found
    return best
