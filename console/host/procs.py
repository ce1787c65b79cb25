"""Processes whose code is not ours: start a command as its own process group, stop it
(SIGINT, then SIGTERM, then SIGKILL after stated delays), pause and resume the group
(SIGSTOP/SIGCONT), measure its tree (RSS from psutil, VRAM from NVML per process), find who
holds a port, and the /dev/shm files a dead server left behind.

App side: psutil and NVML only (never torch).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from console.core.sample import GpuSample

# Stop sequence: vLLM's API server ignored SIGTERM for over 10 s here while SIGINT ended it
# and its EngineCore/Worker children within 8 s (FACTS.md), so SIGINT goes first.
STOP_SIGINT_WAIT_S = 15.0
STOP_SIGTERM_WAIT_S = 10.0
STOP_SIGKILL_WAIT_S = 5.0

SHM_DIR = Path("/dev/shm")


class ProcsError(RuntimeError):
    """A process could not be started or found (one line, names the command or PID)."""


@dataclass(frozen=True, slots=True)
class PortOwner:
    pid: int | None
    command: str  # "" when the PID is not ours to see

    def line(self, port: int) -> str:
        who = f"PID {self.pid}" if self.pid is not None else "another user's process"
        cmd = f" ({self.command})" if self.command else ""
        return f"port {port} is taken by {who}{cmd}: stop it or pass --port N"


def port_owner(port: int, host: str = "127.0.0.1") -> PortOwner | None:
    """Who listens on `port` (any address), or None when it is free."""
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        conns = []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
            return PortOwner(c.pid, _cmdline(c.pid))
    # psutil may not see another user's sockets: a bind attempt settles it.
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return PortOwner(None, "")
    return None


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmdline(pid: int | None, limit: int = 160) -> str:
    if pid is None:
        return ""
    try:
        text = " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------------------------
# The tree's memory


@dataclass(frozen=True, slots=True)
class TreeMemory:
    pids: tuple[int, ...]
    rss_bytes: int
    vram_bytes: int | None  # None: NVML not available
    stopped: int  # processes in state "stopped" (SIGSTOP)

    def to_json_dict(self) -> dict[str, object]:
        return {
            "pids": list(self.pids),
            "rss_bytes": self.rss_bytes,
            "vram_bytes": self.vram_bytes,
            "stopped": self.stopped,
        }


def tree_pids(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [root.pid, *(c.pid for c in root.children(recursive=True))]
    except psutil.Error:
        return []


def vram_by_pid(gpus: Sequence[GpuSample] | None) -> dict[int, int] | None:
    """GPU memory used per process over all GPUs (from a telemetry sample's NVML process
    lists), or None when there is no NVML view (no GPU, no driver)."""
    if not gpus:
        return None
    out: dict[int, int] = {}
    for gpu in gpus:
        for proc in gpu.processes:
            if proc.gpu_memory_bytes is not None:
                out[proc.pid] = out.get(proc.pid, 0) + proc.gpu_memory_bytes
    return out


def tree_memory(
    pid: int, pids: Sequence[int] | None = None, gpus: Sequence[GpuSample] | None = None
) -> TreeMemory:
    """RSS of the process tree (psutil) and its VRAM (NVML per-process figures from `gpus`,
    a telemetry sample's GPUs; None = no GPU view)."""
    members = list(pids) if pids is not None else tree_pids(pid)
    rss = stopped = 0
    alive: list[int] = []
    for p in members:
        try:
            proc = psutil.Process(p)
            status = proc.status()
            if status == psutil.STATUS_ZOMBIE:  # exited, holds nothing, awaiting its parent
                continue
            rss += proc.memory_info().rss
            if status == psutil.STATUS_STOPPED:
                stopped += 1
            alive.append(p)
        except psutil.Error:
            continue
    per_pid = vram_by_pid(gpus)
    vram = None if per_pid is None else sum(per_pid.get(p, 0) for p in alive)
    return TreeMemory(tuple(alive), rss, vram, stopped)


# ----------------------------------------------------------------------------------------------
# A supervised process group


@dataclass
class StopReport:
    signals: list[str] = field(default_factory=list)  # what was sent, in order
    seconds: float = 0.0  # from the first signal to every member gone
    leftover_pids: list[int] = field(default_factory=list)
    exit_code: int | None = None

    def to_json_dict(self) -> dict[str, object]:
        return {
            "signals": self.signals,
            "seconds": round(self.seconds, 3),
            "leftover_pids": self.leftover_pids,
            "exit_code": self.exit_code,
        }


class Group:
    """A command started as the leader of its own process group (so signals reach the whole
    tree and a Ctrl-C in our terminal does not), with stdout and stderr merged into one pipe."""

    def __init__(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> None:
        if not argv:
            raise ProcsError("empty command")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ProcsError(
                f"{argv[0]}: no such program; check the command (or --engine-cmd)"
            ) from None
        except PermissionError:
            raise ProcsError(f"{argv[0]}: permission denied (not executable)") from None
        self.argv = list(argv)
        self.pid = self.proc.pid
        self.pgid = os.getpgid(self.pid)
        self.started = time.monotonic()
        self._members: set[int] = {self.pid}
        self.paused = False

    # -- members ---------------------------------------------------------------------------

    def members(self, *, full: bool = True) -> list[int]:
        """Every live process of the tree, including children that left the group; remembered
        so that orphans re-parented to init are still found at stop time. `full=False` skips
        the scan of every process for the group id (what a frequent memory sample uses)."""
        live = set(tree_pids(self.pid)) if self.proc.poll() is None else set()
        for pid in list(self._members):
            if _alive(pid):
                live.add(pid)
        for proc in psutil.process_iter(["pid"]) if full else ():
            try:
                if os.getpgid(proc.pid) == self.pgid:
                    live.add(proc.pid)
            except (ProcessLookupError, PermissionError, OSError):
                continue
        self._members |= live
        return sorted(p for p in live if _alive(p))

    def memory(self, gpus: Sequence[GpuSample] | None = None) -> TreeMemory:
        return tree_memory(self.pid, self.members(full=False), gpus)

    def poll(self) -> int | None:
        return self.proc.poll()

    # -- signals ---------------------------------------------------------------------------

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)
        for pid in self.members():
            try:
                if os.getpgid(pid) != self.pgid:
                    os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                continue

    def pause(self, settle_s: float = 1.0) -> None:
        """SIGSTOP the whole group: it keeps every byte it holds, but stops growing. Returns
        once every member is stopped (the kernel stops each when it next runs; on a busy
        machine that takes a moment), or after `settle_s`."""
        self.signal(signal.SIGSTOP)
        self.paused = True
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            running = 0
            for pid in self.members(full=False):
                try:
                    if psutil.Process(pid).status() not in (psutil.STATUS_STOPPED,
                                                            psutil.STATUS_ZOMBIE):
                        running += 1
                except psutil.Error:
                    continue
            if running == 0:
                return
            time.sleep(0.01)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def stop(
        self,
        *,
        sigint_wait_s: float = STOP_SIGINT_WAIT_S,
        sigterm_wait_s: float = STOP_SIGTERM_WAIT_S,
        sigkill_wait_s: float = STOP_SIGKILL_WAIT_S,
        on_signal: Callable[[str], None] | None = None,
    ) -> StopReport:
        """SIGINT, wait; SIGTERM, wait; SIGKILL, wait: until every member is gone."""
        report = StopReport()
        self.members()  # remember the tree before it starts to fall apart
        t0 = time.monotonic()
        for name, sig, wait in (
            ("SIGINT", signal.SIGINT, sigint_wait_s),
            ("SIGTERM", signal.SIGTERM, sigterm_wait_s),
            ("SIGKILL", signal.SIGKILL, sigkill_wait_s),
        ):
            if not self._any_alive():
                break
            if self.paused:
                self.signal(signal.SIGCONT)  # a stopped process cannot act on SIGINT
                self.paused = False
            self.signal(sig)
            report.signals.append(name)
            if on_signal is not None:
                on_signal(name)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self._any_alive():
                time.sleep(0.05)
        report.seconds = time.monotonic() - t0
        report.leftover_pids = [p for p in self._members if _alive(p)]
        try:
            report.exit_code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            report.exit_code = None
        return report

    def _any_alive(self) -> bool:
        self.proc.poll()  # reap the leader
        return any(_alive(p) for p in self._members | set(self.members()))


def _alive(pid: int) -> bool:
    try:
        status: str = psutil.Process(pid).status()
    except psutil.Error:
        return False
    return bool(status != psutil.STATUS_ZOMBIE)


def describe_exit(code: int | None) -> str:
    """'exit code 1' / 'killed by SIGKILL (9)' from a Popen return code."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name} ({-code})"
    return f"exit code {code}"


def shell_exit_code(code: int | None) -> int:
    """What a shell reports for a Popen return code: 128 + N for signal N."""
    if code is None:
        return 1
    return 128 - code if code < 0 else code


# ----------------------------------------------------------------------------------------------
# /dev/shm


@dataclass(frozen=True, slots=True)
class ShmFile:
    path: Path
    size_bytes: int
    owner_pids: tuple[int, ...]  # live processes that still map or hold it


def shm_snapshot(shm_dir: Path = SHM_DIR) -> set[str]:
    try:
        return {p.name for p in shm_dir.iterdir()}
    except OSError:
        return set()


def _holders() -> dict[str, list[int]]:
    held: dict[str, list[int]] = {}
    for proc in psutil.process_iter(["pid"]):
        try:
            paths = [m.path for m in proc.memory_maps(grouped=True)]
            paths += [f.path for f in proc.open_files()]
        except (psutil.Error, OSError):
            continue
        for path in paths:
            if path.startswith(str(SHM_DIR) + "/"):
                held.setdefault(path.split(" ")[0], []).append(proc.pid)
    return held


def shm_held_by(pids: Sequence[int], shm_dir: Path = SHM_DIR) -> set[str]:
    """Names of the /dev/shm files these processes map or hold open now."""
    prefix = str(shm_dir) + "/"
    names: set[str] = set()
    for pid in pids:
        # /proc/PID/maps and fd/ directly: psutil's memory_maps parses smaps, ~100x the cost
        # for a process with torch's thousands of mappings (this runs every few seconds)
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    at = line.find(prefix)
                    if at != -1:
                        names.add(line[at + len(prefix):].rstrip("\n").split(" ")[0])
            fd_dir = f"/proc/{pid}/fd"
            for fd in os.listdir(fd_dir):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"{fd_dir}/{fd}")
                    if target.startswith(prefix):
                        names.add(target[len(prefix):].split(" ")[0])
        except OSError:
            continue
    return names


def shm_leftovers(before: set[str], shm_dir: Path = SHM_DIR,
                  seen: set[str] | None = None) -> list[ShmFile]:
    """Files in /dev/shm that were not there before the server started and that no live
    process holds any more: what a dead server left behind. `seen`: only those among these
    names (the files the server's own processes were seen holding), so that a file another
    program created and abandoned meanwhile is not blamed on the server."""
    new = sorted(shm_snapshot(shm_dir) - before)
    if seen is not None:
        new = [name for name in new if name in seen]
    if not new:
        return []
    held = _holders()
    out: list[ShmFile] = []
    for name in new:
        path = shm_dir / name
        try:
            size = path.stat().st_size
        except OSError:
            continue
        owners = tuple(held.get(str(path), []))
        if not owners:
            out.append(ShmFile(path, size, owners))
    return out


def remove_shm(files: Sequence[ShmFile]) -> list[str]:
    """Remove the named leftovers; returns one line per file that could not be removed."""
    problems: list[str] = []
    for f in files:
        try:
            f.path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{f.path}: cannot remove it ({exc.strerror or exc})")
    return problems


# ----------------------------------------------------------------------------------------------
# Memory growth while serving


@dataclass
class GrowthWatch:
    """Warn on memory that keeps growing: over `window_s`, the tree's RSS+VRAM rose by more
    than `min_growth_bytes` and never fell by more than `tolerance_bytes` on the way."""

    window_s: float = 300.0
    min_growth_bytes: int = 256 * 1024**2
    tolerance_bytes: int = 32 * 1024**2
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, t_s: float, total_bytes: int) -> str | None:
        self.samples.append((t_s, total_bytes))
        self.samples = [(t, b) for t, b in self.samples if t >= t_s - self.window_s]
        if len(self.samples) < 3 or self.samples[-1][0] - self.samples[0][0] < self.window_s * 0.5:
            return None
        peak = self.samples[0][1]
        for _, b in self.samples:
            if b < peak - self.tolerance_bytes:
                return None
            peak = max(peak, b)
        grown = self.samples[-1][1] - self.samples[0][1]
        if grown >= self.min_growth_bytes:
            span = self.samples[-1][0] - self.samples[0][0]
            return (
                f"memory keeps growing: +{grown / 1024**2:.0f} MiB over {span:.0f} s "
                "without falling back (a leak while serving?)"
            )
        return None
