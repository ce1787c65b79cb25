"""Supervision of a process whose code is not ours (a served engine, a user's script).

`ProcessWatch` starts a command as its own process group (console.host.procs.Group), reads its
merged stdout/stderr line by line (cleaned: no escape sequences reach a terminal), diagnoses
it live (console.core.diagnose.StreamingDiagnoser, causes by id), samples its tree's RSS and
VRAM, applies the guard (pause level -> SIGSTOP of the group; resume -> SIGCONT; abort ->
stop) and explains its exit. Everything it learns goes out as JSON-ready event dicts through
one callback: {"event": "log" | "memory" | "diagnosis" | "paused" | "resumed" | "aborted" |
"warning" | "exit" | ..., "t_s": seconds since start, ...}.

App side: no torch; the threads never touch a UI, they only call `on_event`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.core import guard
from console.core.diagnose import DiagnosedError, DiagnosisContext, StreamingDiagnoser
from console.core.levels import Levels
from console.core.sample import Sample
from console.core.serving import clean_line
from console.host import oomkill, procs

Event = dict[str, Any]
OnEvent = Callable[[Event], None]


def diagnosis_event(d: DiagnosedError) -> Event:
    return {
        "event": "diagnosis",
        "kind": d.kind,
        "summary": clean_line(d.summary, 300),
        "causes": [
            {"id": c.id, "confidence": round(c.confidence, 2), "title": c.title} for c in d.causes
        ],
    }


SHM_EVERY_S = 2.0  # how often the group's /dev/shm files are read (a few ms per process)


@dataclass(frozen=True, slots=True)
class GuardOptions:
    thresholds: Mapping[str, Levels]
    auto_resume: bool = False
    during_startup_only: bool = False  # served engines: the guard acts until ready


class ProcessWatch:
    """One supervised process group: logs, diagnosis, memory, guard, exit."""

    def __init__(
        self,
        argv: Sequence[str],
        on_event: OnEvent,
        *,
        env: Mapping[str, str] | None = None,
        sample_s: float = 1.0,
        telemetry: Any | None = None,
        guard_options: GuardOptions | None = None,
        on_line: Callable[[str, float], None] | None = None,
        growth: procs.GrowthWatch | None = None,
        on_abort: Callable[[], None] | None = None,
    ) -> None:
        self.argv = list(argv)
        self._on_event = on_event
        self._env = env
        self._sample_s = sample_s
        self._telemetry = telemetry
        self._guard = guard_options
        self._on_line = on_line
        self._growth = growth
        # What an abort (the guard's or the user's) runs: the caller's own stop (a served
        # engine reports its stop proof), else this watch's stop sequence.
        self._on_abort = on_abort
        # Resources the user resumed past (forced): the guard leaves them alone until their
        # reading is back under the resume level, as it would pause again at once.
        self._forced_past: set[str] = set()
        self.diagnoser = StreamingDiagnoser()
        self.causes: list[str] = []  # cause ids seen, in order, without repeats
        self.lines: list[str] = []  # the last lines, cleaned (bounded)
        self.group: procs.Group | None = None
        self.guard_state = guard.RUNNING
        self.last_memory: procs.TreeMemory | None = None
        self.peak_rss_bytes = 0
        self.exit_code: int | None = None
        self.killed_by_console = False
        self.ready = False  # set by the served engine: the guard then stops acting
        self.watching = True  # False: no memory samples (benchmarks measure the difference)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._reader: threading.Thread | None = None
        self._sampler: threading.Thread | None = None
        self._last_sample: Sample | None = None
        self._oom_before: dict[str, int] = {}
        # /dev/shm files the group's processes were seen holding (every SHM_EVERY_S, and just
        # before a stop): what a stopped or dead server can be said to have left there.
        self.shm_seen: set[str] = set()
        self._shm_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        # The kernel's OOM-kill counters now: a SIGKILL is named host_oom only when one rose
        # (or RAM was under pressure), as for the console's own engine.
        self._oom_before = oomkill.counts()
        self.group = procs.Group(self.argv, env=self._env)
        self.emit({"event": "started", "pid": self.group.pid, "command": self.argv})
        self._reader = threading.Thread(target=self._read, name="watch-reader", daemon=True)
        self._sampler = threading.Thread(
            target=self._sample_loop, name="watch-sampler", daemon=True
        )
        self._reader.start()
        self._sampler.start()

    def t_s(self) -> float:
        return 0.0 if self.group is None else time.monotonic() - self.group.started

    def emit(self, event: Event) -> None:
        event.setdefault("t_s", round(self.t_s(), 3))
        with self._lock:
            self._on_event(event)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to exit and its exit to be explained; its return code."""
        self._done.wait(timeout)
        return self.exit_code

    @property
    def running(self) -> bool:
        return self.group is not None and self.group.poll() is None

    def pause(self, why: str = "paused by you (SIGSTOP)") -> None:
        """The user pauses the group (SIGSTOP); the guard then waits for the user's resume."""
        assert self.group is not None
        self.group.pause()
        self.guard_state = guard.pause_by_user(self.guard_state, time.monotonic())
        self.emit({"event": "paused", "by_user": True, "why": why, **self._holding()})

    def resume(self, *, force: bool = False) -> str | None:
        """The user resumes the group (SIGCONT). After a guard pause this is refused while a
        reading is still at its pause level (it would pause again at once), unless `force`;
        a forced resume leaves those resources unguarded until they drop under their resume
        level. None when resumed, else why not (one line)."""
        assert self.group is not None
        state = self.guard_state
        forced: list[str] = []
        if self._guard is not None and state.mode == "paused" and not state.by_user:
            readings = guard.readings_from_sample(self._last_sample) if self._last_sample \
                else ()
            verdict = guard.request_resume(readings, self._guard.thresholds, state,
                                           now=time.monotonic(), force=force)
            if verdict.action != "resume":
                return verdict.why
            forced = sorted({c.resource for c in verdict.crossings})
        self.group.resume()
        self.guard_state = guard.RUNNING
        self._forced_past.update(forced)
        why = "resumed by you (SIGCONT)"
        if forced:
            why += ("; forced past " + ", ".join(forced) + ": not guarded until back under "
                    "its resume level")
        self.emit({"event": "resumed", "by_user": True, "forced": bool(forced), "why": why})
        return None

    def abort(self, why: str = "aborted by you") -> None:
        """The user aborts the start: the group is stopped (SIGCONT first when paused)."""
        if self.group is None or self.group.poll() is not None or self.killed_by_console:
            return
        self.guard_state = guard.abort_by_user(time.monotonic())
        self.emit({"event": "aborted", "by_user": True, "why": why, **self._holding()})
        self._run_abort()

    def _run_abort(self) -> None:
        target = self._on_abort if self._on_abort is not None else self.stop
        threading.Thread(target=target, name="watch-abort", daemon=True).start()

    def stop(self, **waits: float) -> procs.StopReport:
        """SIGINT, SIGTERM, SIGKILL after the stated delays; then the exit is explained."""
        assert self.group is not None
        self.killed_by_console = True
        before = self.group.memory(self._gpus())
        self.shm_seen |= procs.shm_held_by(before.pids)
        report = self.group.stop(
            on_signal=lambda s: self.emit({"event": "signal", "signal": s}), **waits
        )
        self._done.wait(10.0)
        after = procs.tree_memory(self.group.pid, list(before.pids), self._gpus())
        self.emit(
            {
                "event": "stopped",
                **report.to_json_dict(),
                "rss_before_bytes": before.rss_bytes,
                "rss_after_bytes": after.rss_bytes,
                "vram_before_bytes": before.vram_bytes,
                "vram_after_bytes": after.vram_bytes,
                "pids_left": list(after.pids),
            }
        )
        return report

    def close(self) -> None:
        self._stop.set()

    # -- threads ---------------------------------------------------------------------------

    def _holding(self) -> Event:
        mem = self.group.memory(self._gpus()) if self.group is not None else None
        if mem is None:
            return {}
        return {
            "holds_rss_bytes": mem.rss_bytes,
            "holds_vram_bytes": mem.vram_bytes,
            "stopped_processes": mem.stopped,
        }

    def _gpus(self) -> Any:
        return self._last_sample.gpus if self._last_sample is not None else None

    @property
    def guard_options(self) -> GuardOptions | None:
        return self._guard

    def set_guard(self, options: GuardOptions | None) -> None:
        """New levels, live: the next sample is judged by them (a raised level lets a resume
        through that was refused)."""
        self._guard = options

    def memory_now(self) -> procs.TreeMemory | None:
        """The group's RSS and VRAM now (VRAM from the last telemetry sample's NVML view)."""
        return self.group.memory(self._gpus()) if self.group is not None else None

    def _context(self, **facts: Any) -> DiagnosisContext:
        pid = self.group.pid if self.group is not None else None
        return DiagnosisContext.from_sample(self._last_sample, engine_pid=pid, **facts)

    def _kernel_facts(self, code: int) -> dict[str, str | None]:
        """A SIGKILL: what the kernel log says of the process (its OOM-kill line or why not)."""
        if code not in (-signal.SIGKILL, 128 + signal.SIGKILL) or self.killed_by_console:
            return {}
        from console.host import kernellog

        kernel = kernellog.kernel_oom(self.group.pid if self.group is not None else None)
        return {"kernel_oom_line": kernel.line, "kernel_log_note": kernel.note}

    def _report(self, found: Sequence[DiagnosedError]) -> None:
        for d in found:
            for c in d.causes:
                if c.id not in self.causes:
                    self.causes.append(c.id)
            self.emit(diagnosis_event(d))

    def _read(self) -> None:
        assert self.group is not None and self.group.proc.stdout is not None
        stream = self.group.proc.stdout
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", errors="replace").rstrip("\n")
            line = clean_line(text)
            self.lines.append(line)
            if len(self.lines) > 2000:
                del self.lines[:1000]
            t = self.t_s()
            self.emit({"event": "log", "line": line})
            if self._on_line is not None:
                self._on_line(line, t)
            self._report(self.diagnoser.feed(text.split("\r")[-1], self._context()))
        code = self.group.proc.wait()
        self.exit_code = code
        ctx = self._context(
            exit_code=code,
            exit_signal=-code if code < 0 else None,
            killed_by_console=self.killed_by_console,
            oom_kill_evidence=oomkill.evidence(self._oom_before, oomkill.counts()),
            **self._kernel_facts(code),
        )
        self._report(self.diagnoser.flush(ctx))
        self.emit(
            {
                "event": "exit",
                "code": code,
                "why": procs.describe_exit(code),
                "causes": list(self.causes),
                "peak_rss_bytes": self.peak_rss_bytes,
            }
        )
        self._done.set()

    def _sample_loop(self) -> None:
        while not self._done.is_set() and not self._stop.wait(self._sample_s):
            if self.group is None or self.group.poll() is not None or not self.watching:
                continue
            if self._telemetry is not None:
                try:
                    self._last_sample = self._telemetry.sample()
                except Exception:
                    self._last_sample = None
            mem = self.group.memory(self._gpus())
            self.last_memory = mem
            if time.monotonic() - self._shm_at >= SHM_EVERY_S:
                self._shm_at = time.monotonic()
                self.shm_seen |= procs.shm_held_by(mem.pids)
            self.peak_rss_bytes = max(self.peak_rss_bytes, mem.rss_bytes)
            self.emit({"event": "memory", **mem.to_json_dict()})
            if self._growth is not None and self.ready:
                warn = self._growth.add(self.t_s(), mem.rss_bytes + (mem.vram_bytes or 0))
                if warn:
                    self.emit({"event": "warning", "what": "memory_growth", "why": warn})
            self._apply_guard()

    def _apply_guard(self) -> None:
        opts = self._guard
        if opts is None or self._last_sample is None or self.group is None:
            return
        if opts.during_startup_only and self.ready:
            return
        if self.guard_state.by_user:
            return
        readings = guard.readings_from_sample(self._last_sample)
        thresholds = dict(opts.thresholds)
        for resource in list(self._forced_past):
            levels = thresholds.get(resource)
            values = [r.value for r in readings if r.resource == resource and r.value is not None]
            if levels is None or (values and max(values) < levels.resume):
                self._forced_past.discard(resource)  # back under resume: guarded again
            else:
                del thresholds[resource]
        verdict = guard.evaluate(
            readings,
            thresholds,
            self.guard_state,
            now=time.monotonic(),
            auto_resume=opts.auto_resume,
            engine_pid=self.group.pid,
        )
        self.guard_state = verdict.state
        change = verdict.event() or {}
        if verdict.action == "pause":
            self.group.pause()
            self.emit({**change, "by_user": False, **self._holding()})
        elif verdict.action == "resume":
            self.group.resume()
            self.emit({**change, "by_user": False})
        elif verdict.action == "abort" and self.group.poll() is None and not self.killed_by_console:
            self.emit({**change, "by_user": False, **self._holding()})
            self.killed_by_console = True  # one abort: the next samples do not start another
            self._run_abort()
