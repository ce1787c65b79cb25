"""Startup and idle cost of the dashboard, measured on the installed `autoglm-console`.

    python benchmarks/startup_idle.py [--runs 10] [--idle-seconds 60] [--size 160x48]
        [--console-arg=--no-prestart] [--no-h100]

1. First frame: the console is started in a pseudo-terminal, exactly as a user's terminal
   runs it; the clock runs from just before the process is spawned until the last line of the
   first frame (the footer's "q quit") arrives on the terminal. N runs, median and p90. No hook
   in the app is needed. One more run with PYTHONPROFILEIMPORTTIME=1 lists every module the
   console imported: torch and transformers must not be among them (the /proc/PID/maps of
   every run are checked for libtorch too) and the slowest imports are printed. The console's
   CPU time up to the first frame is printed too: unlike the wall time it hardly depends on
   what else the machine is running.
2. Idle: one console left running with all panels live at the default 1 s interval; after a
   5 s settle, its CPU time (user + system, psutil) over --idle-seconds wall seconds, as % of
   one core, and its RSS (peak of 1 s readings). Run twice: this machine as it is (its real
   GPUs through NVML, or CPU-only) and with the GPU panels fed by a recorded H100
   (AUTOGLM_CONSOLE_NVML_RECORDING).

Prints a table with the targets from the foundation issue. Not a test: numbers depend on the
machine and its load; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "tests" / "fixtures" / "nvml" / "h100_handmade.json"
FRAME_DONE = b"quit"  # the footer ("q quit"): the last line of the first frame
FORBIDDEN_MODULES = ("torch", "transformers", "safetensors")

TARGET_FIRST_FRAME_S = 0.5
TARGET_IDLE_CPU_PCT = 2.0
TARGET_RSS_MB = 120.0


def console_path() -> str:
    sibling = Path(sys.executable).parent / "autoglm-console"
    found = str(sibling) if sibling.exists() else shutil.which("autoglm-console")
    if not found:
        sys.exit("autoglm-console is not installed: run ./dev setup")
    return found


@dataclass
class Terminal:
    """A console process on a pseudo-terminal of the given size; output drained by a thread."""

    argv: list[str]
    size: tuple[int, int]
    env: dict[str, str]
    output: bytearray = field(default_factory=bytearray)
    frame_at: float | None = None
    frame_cpu_s: float | None = None  # the console's CPU time (user + system) at that moment

    def start(self) -> None:
        master, slave = pty.openpty()
        cols, rows = self.size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self._seen = threading.Event()
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, stdin=slave, stdout=slave, stderr=slave, env=self.env,
            start_new_session=True, close_fds=True,
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        # Keep reading so the console never blocks on a full terminal; note the first frame.
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if not ready:
                    if self.proc.poll() is not None:
                        return
                    continue
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            if self.frame_at is None:
                self.output += chunk
                if FRAME_DONE in self.output:
                    self.frame_at = time.perf_counter()
                    try:
                        cpu = psutil.Process(self.proc.pid).cpu_times()
                        self.frame_cpu_s = cpu.user + cpu.system
                    except psutil.Error:
                        pass
                    self._seen.set()

    def wait_first_frame(self, timeout_s: float = 30.0) -> float:
        if not self._seen.wait(timeout_s):
            self.kill()
            raise RuntimeError(f"no first frame within {timeout_s} s; output: "
                               f"{bytes(self.output[-2000:])!r}")
        assert self.frame_at is not None
        return self.frame_at - self.started_at

    def quit(self, timeout_s: float = 10.0) -> int:
        os.write(self.master, b"q")
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("the console did not exit on q") from None
        finally:
            os.close(self.master)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def maps_mention_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TERM", "xterm-256color")
    env.pop(RECORDING_VAR, None)
    env.update(extra)
    return env


RECORDING_VAR = "AUTOGLM_CONSOLE_NVML_RECORDING"


def first_frames(console: list[str], runs: int, size: tuple[int, int]
                 ) -> tuple[list[float], list[float], bool]:
    """Wall seconds to the first frame, the console's CPU seconds by then, libtorch mapped?"""
    times: list[float] = []
    cpu_times: list[float] = []
    torch_mapped = False
    for _ in range(runs):
        term = Terminal(console, size, base_env())
        term.start()
        times.append(term.wait_first_frame())
        if term.frame_cpu_s is not None:
            cpu_times.append(term.frame_cpu_s)
        torch_mapped |= maps_mention_torch(term.proc.pid)
        code = term.quit()
        if code != 0:
            raise RuntimeError(f"the console exited with {code}")
    return times, cpu_times, torch_mapped


def imported_modules(console: list[str], size: tuple[int, int]
                     ) -> tuple[set[str], list[tuple[int, str]]]:
    """Every module the console imports up to its first frame, and the slowest (µs, name)."""
    term = Terminal(console, size, base_env(PYTHONPROFILEIMPORTTIME="1"))
    term.start()
    term.wait_first_frame()
    term.quit()
    modules: set[str] = set()
    costs: list[tuple[int, str]] = []
    for line in bytes(term.output).decode(errors="replace").splitlines():
        # "import time:      self [us] |  cumulative | imported package"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        try:
            _, cumulative, name = line[len("import time:"):].split("|")
            modules.add(name.strip())
            costs.append((int(cumulative), name.rstrip()))
        except ValueError:
            continue
    top_level = [(us, name) for us, name in costs if not name.startswith("   ")]
    return modules, sorted(top_level, reverse=True)[:8]


@dataclass
class Idle:
    cpu_pct: float
    rss_peak_mb: float
    rss_end_mb: float


def idle(console: list[str], seconds: float, size: tuple[int, int], recording: Path | None) -> Idle:
    env = base_env(**({RECORDING_VAR: str(recording)} if recording else {}))
    term = Terminal(console, size, env)
    term.start()
    try:
        term.wait_first_frame()
        proc = psutil.Process(term.proc.pid)
        time.sleep(5.0)  # settle: first samples, history filling, caches warm
        before = proc.cpu_times()
        start = time.monotonic()
        rss_peak = 0
        while time.monotonic() - start < seconds:
            time.sleep(1.0)
            rss_peak = max(rss_peak, proc.memory_info().rss)
        after = proc.cpu_times()
        wall = time.monotonic() - start
        rss_end = proc.memory_info().rss
        used = (after.user - before.user) + (after.system - before.system)
        code = term.quit()
        if code != 0:
            raise RuntimeError(f"the console exited with {code}")
    except BaseException:
        term.kill()
        raise
    return Idle(100.0 * used / wall, rss_peak / 1e6, rss_end / 1e6)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--size", default="160x48", help="terminal size for the idle runs")
    parser.add_argument("--frame-size", default="80x24", help="terminal size for first frames")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--console-arg", action="append", default=[], metavar="ARG",
                        help="an argument for the console (repeatable), e.g. "
                        "--console-arg=--no-prestart")
    parser.add_argument("--no-h100", action="store_true",
                        help="skip the idle run with the recorded H100")
    args = parser.parse_args()
    console = [console_path(), *args.console_arg]
    idle_size = tuple(int(v) for v in args.size.split("x"))
    frame_size = tuple(int(v) for v in args.frame_size.split("x"))

    load_before = os.getloadavg()[0]
    print(f"console: {' '.join(console)}  python {sys.version.split()[0]}  cores {os.cpu_count()}  "
          f"load {load_before:.2f}", flush=True)
    print(f"first frame: {args.runs} runs at {args.frame_size} ...", flush=True)
    times, cpu_times, torch_mapped = first_frames(console, args.runs,
                                                  frame_size)  # type: ignore[arg-type]
    modules, slowest = imported_modules(console, frame_size)  # type: ignore[arg-type]
    forbidden = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN_MODULES)
    print(f"idle: {args.idle_seconds:.0f} s at {args.size}, this machine's GPUs (or none) ...",
          flush=True)
    idle_plain = idle(console, args.idle_seconds, idle_size, None)  # type: ignore[arg-type]
    idle_h100 = None
    if not args.no_h100:
        print(f"idle: {args.idle_seconds:.0f} s at {args.size}, recorded H100 ...", flush=True)
        idle_h100 = idle(console, args.idle_seconds, idle_size, RECORDING)  # type: ignore[arg-type]

    median, p90 = statistics.median(times), pct(times, 0.9)
    rows = [
        ("first frame, median", f"{median:.3f} s", f"<= {TARGET_FIRST_FRAME_S} s",
         median <= TARGET_FIRST_FRAME_S),
        ("first frame, p90", f"{p90:.3f} s", f"<= {TARGET_FIRST_FRAME_S} s",
         p90 <= TARGET_FIRST_FRAME_S),
        ("torch/transformers imported", ", ".join(forbidden) or "no", "no",
         not forbidden and not torch_mapped),
        # Informational: the console's own CPU time up to the first frame barely depends on
        # what else the machine runs, unlike the wall time.
        ("first frame, CPU time (median)", f"{statistics.median(cpu_times):.3f} s", "-", True),
    ]
    for label, result in (("this machine", idle_plain), ("recorded H100", idle_h100)):
        if result is None:
            continue
        rows += [
            (f"idle CPU, {label}", f"{result.cpu_pct:.2f} % of a core",
             f"<= {TARGET_IDLE_CPU_PCT} %", result.cpu_pct <= TARGET_IDLE_CPU_PCT),
            (f"RSS peak, {label}", f"{result.rss_peak_mb:.1f} MB", f"<= {TARGET_RSS_MB:.0f} MB",
             result.rss_peak_mb <= TARGET_RSS_MB),
        ]
    print()
    print(f"{'measure':<32} {'result':<22} {'target':<10} ok")
    print("-" * 70)
    for label, value, target, ok in rows:
        print(f"{label:<32} {value:<22} {target:<10} {'yes' if ok else 'NO'}")
    print()
    print(f"load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print("first frames (s): " + " ".join(f"{t:.3f}" for t in times))
    print("slowest imports (cumulative ms): " + ", ".join(
        f"{name.strip()} {us / 1000:.0f}" for us, name in slowest))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "rows": [{"measure": m, "result": r, "target": t, "ok": ok} for m, r, t, ok in rows],
            "first_frames_s": times, "first_frame_cpu_s": cpu_times,
            "idle": {"this_machine": vars(idle_plain),
                     "recorded_h100": vars(idle_h100) if idle_h100 else None},
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "slowest_imports_us": slowest, "cores": os.cpu_count(),
        }, indent=2))
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
