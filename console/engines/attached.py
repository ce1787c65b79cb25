"""Attach to a process started elsewhere: its tree's RSS and VRAM, its log file followed and
diagnosed live, its `/health` and `/metrics` when a URL is given. The process is never
signalled: watching only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil

from console.core import serving
from console.core.diagnose import DiagnosisContext, StreamingDiagnoser
from console.engines.served import fetch_metrics, http_get
from console.engines.supervise import OnEvent, diagnosis_event
from console.host import procs


class Attached:
    def __init__(
        self,
        pid: int,
        on_event: OnEvent,
        *,
        log: str | None = None,
        url: str | None = None,
        engine: str = "vllm",
        interval_s: float = 1.0,
        from_start: bool = False,
        telemetry: Any | None = None,
    ) -> None:
        if not psutil.pid_exists(pid):
            raise LookupError(f"PID {pid}: no such process")
        self.pid = pid
        self.on_event = on_event
        self.url = url.rstrip("/") if url else None
        self.engine = engine
        self.interval_s = interval_s
        self.telemetry = telemetry
        self.diagnoser = StreamingDiagnoser()
        self.causes: list[str] = []
        self.t0 = time.monotonic()
        self.log_path = Path(log) if log else None
        self._log_pos = 0
        self._partial = ""
        if self.log_path is not None:
            try:
                self._log_pos = 0 if from_start else self.log_path.stat().st_size
            except OSError:
                raise LookupError(f"--log {log}: cannot read it") from None
        self.members: set[int] = set(procs.tree_pids(pid))

    def emit(self, event: dict[str, Any]) -> None:
        event.setdefault("t_s", round(time.monotonic() - self.t0, 3))
        self.on_event(event)

    def _follow(self) -> None:
        if self.log_path is None:
            return
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_pos)
                chunk = f.read()
                self._log_pos = f.tell()
        except OSError:
            return
        text = self._partial + chunk.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.emit({"event": "log", "line": serving.clean_line(line)})
            for d in self.diagnoser.feed(
                line.split("\r")[-1], DiagnosisContext(engine_pid=self.pid)
            ):
                self.causes.extend(c.id for c in d.causes if c.id not in self.causes)
                self.emit(diagnosis_event(d))

    def step(self) -> bool:
        """One sample; False once the process is gone."""
        self._follow()
        alive = psutil.pid_exists(self.pid) and procs._alive(self.pid)
        if alive:
            self.members |= set(procs.tree_pids(self.pid))
        gpus = self.telemetry.sample().gpus if self.telemetry is not None else None
        mem = procs.tree_memory(self.pid, sorted(self.members), gpus)
        self.emit({"event": "memory", **mem.to_json_dict()})
        if self.url:
            status, _ = http_get(self.url + "/health")
            self.emit({"event": "health", "status": status})
            m = fetch_metrics(self.url, self.engine)
            if m is not None:
                self.emit({"event": "metrics", **m.to_json_dict()})
        if not alive:
            for d in self.diagnoser.flush(DiagnosisContext(engine_pid=self.pid)):
                self.causes.extend(c.id for c in d.causes if c.id not in self.causes)
                self.emit(diagnosis_event(d))
            self.emit({"event": "gone", "pid": self.pid, "causes": list(self.causes)})
        return alive

    def run(self, seconds: float | None = None) -> None:
        self.emit(
            {"event": "attached", "pid": self.pid, "log": str(self.log_path or ""), "url": self.url}
        )
        while self.step():
            if seconds is not None and time.monotonic() - self.t0 >= seconds:
                return
            time.sleep(self.interval_s)
