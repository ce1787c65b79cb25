"""The kernel's own count of OOM kills, read before and after the engine dies.

An engine ended by SIGKILL is the kernel's OOM killer only with evidence: its counter moved
(`oom_kill` in /proc/vmstat, host-wide; `oom_kill` in the cgroup's memory.events, v2 or the
v1 memory controller's memory.oom_control), or RAM / swap were near full at the time (the
diagnosis reads that from the sample). Without it the death is "killed by a signal from
outside". `counts()` reads the counters (None where unreadable); `evidence(before, after)`
says which moved, in one line, or None.

The kernel log says more (which process it killed): console/host/kernellog.py reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")


def _field(path: Path, name: str) -> int | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name and parts[1].isdigit():
            return int(parts[1])
    return None


def _own_cgroup_dirs(proc: Path, cgroup: Path) -> list[Path]:
    """This process's cgroup directories that can hold an OOM-kill counter (v2, v1 memory)."""
    try:
        lines = (proc / "self" / "cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    dirs = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":
            dirs.append(cgroup / rel)
        elif "memory" in controllers.split(","):
            dirs.append(cgroup / "memory" / rel)
    return dirs


def counts(proc: Path = PROC, cgroup: Path = CGROUP) -> dict[str, int]:
    """Readable OOM-kill counters by where they were read."""
    found: dict[str, int] = {}
    host = _field(proc / "vmstat", "oom_kill")
    if host is not None:
        found["/proc/vmstat oom_kill"] = host
    for directory in _own_cgroup_dirs(proc, cgroup):
        for name in ("memory.events", "memory.oom_control"):
            value = _field(directory / name, "oom_kill")
            if value is not None:
                found[f"{directory / name} oom_kill"] = value
    return found


def evidence(before: Mapping[str, int], after: Mapping[str, int]) -> str | None:
    """'the kernel's OOM-kill counter rose: /proc/vmstat oom_kill 3 -> 4', or None."""
    moved = [f"{where} {before[where]} -> {value}" for where, value in after.items()
             if where in before and value > before[where]]
    if not moved:
        return None
    return "the kernel's OOM-kill counter rose: " + "; ".join(moved)


def unreadable(before: Mapping[str, int]) -> bool:
    """No counter could be read (then a kill without RAM pressure stays unexplained)."""
    return not before

