"""`LocalEngine` (the `Engine` of console/engines/base.py for our own engine process): starts
`python -m console.worker.worker`, sends typed commands, delivers typed events and the
engine's raw output lines. No torch, no transformers here.

Pipes: commands go down one pipe, events come up another (both passed by fd), and the child's
stdout+stderr (merged, in order) come up a third as raw text. Three daemon threads read the
events, read the raw output and wait for the process; everything they see is delivered, in one
stream of typed events (`console.core.protocol`), to an optional callback (called on those
threads: a Textual app posts a Message from it) and to `messages` (a queue, for the CLI and
tests). Raw lines arrive as `output` events and the end of the process as an `exited` event
with its exit code or signal name and the last lines it printed. Everything is also written,
timestamped, to the session log file in `console.host.paths.log_dir()` as it arrives.

The app survives whatever the engine does; `hard_unload()` terminates the process (every byte
of its memory returns by construction) and `restart()` starts a fresh one.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from console.core import protocol
from console.core.exits import signal_name
from console.core.protocol import AnyCommand, AnyEvent
from console.core.session import Session, apply
from console.engines.base import Engine, EngineDead, OnEvent, _levels_dict, guard_settings
from console.host import paths
from console.host.logs import DEFAULT_KEEP_SESSIONS, DEFAULT_MAX_MIB, SessionLog

Message = AnyEvent
OnMessage = OnEvent

__all__ = ["EngineClient", "EngineCommandError", "EngineDead", "LocalEngine", "OnMessage",
           "guard_settings"]





def new_session_log_path() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return paths.log_dir() / f"session-{stamp}-{os.getpid()}.log"


class LocalEngine(Engine):
    """Drives one engine process at a time. Thread-safe; nothing here blocks the caller except
    the explicit waits (`wait_for`, `close`, `hard_unload`). `session` is the events folded by
    `console.core.session.apply` (the CLI and tests read the state from it)."""

    def __init__(
        self,
        on_message: OnMessage | None = None,
        *,
        python: str | None = None,
        env: dict[str, str] | None = None,
        allow_download: bool = False,
        session_log: Path | bool = True,
        keep_lines: int = 500,
        use_queue: bool = True,
        log_rotation: tuple[int, float] = (DEFAULT_KEEP_SESSIONS, DEFAULT_MAX_MIB),
    ) -> None:
        super().__init__(on_message)
        self.python = python or sys.executable
        self.extra_env = dict(env or {})
        self.allow_download = allow_download
        self.messages: queue.Queue[AnyEvent] | None = queue.Queue() if use_queue else None
        self.last_lines: deque[str] = deque(maxlen=keep_lines)
        self.log: SessionLog | None = None
        if session_log:
            # Private (0700 dir, 0600 file), rotated, fail-safe: a log that cannot be written
            # says so once ("session log off: <reason>") and the engine carries on.
            self.log = SessionLog(session_log if isinstance(session_log, Path)
                                  else new_session_log_path(),
                                  on_off=self._session_log_off, keep_sessions=log_rotation[0],
                                  max_mib=log_rotation[1])
        self.session = Session()
        self._session_lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self._cmd: BinaryIO | None = None
        self._send_lock = threading.Lock()
        self._expect_exit = False
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ the session's view
    @property
    def state(self) -> str:
        """stopped | starting | the engine's states | dead."""
        return self.session.engine

    @property
    def guard_mode(self) -> str:
        """running | paused | aborted, as the load guard's events tell it."""
        return self.session.guard_mode

    @property
    def hello(self) -> protocol.Hello | None:
        return self.session.hello

    @property
    def exit_info(self) -> protocol.Exited | None:
        return self.session.exited

    def _fold(self, event: Any) -> None:
        with self._session_lock:
            self.session = apply(self.session, event)

    # ------------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        if self.log is None or not (self.log.active or self.log.path.is_file()):
            return None
        return self.log.path


    def _session_log_off(self, reason: str) -> None:
        self._deliver(protocol.make_event(protocol.Log, level="warning",
                                          message=f"session log off: {reason}"))

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        # The child imports the same `console` package this process runs.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        if self.allow_download:
            env["AUTOGLM_ENGINE_ALLOW_DOWNLOAD"] = "1"
            env.pop("HF_HUB_OFFLINE", None)
            env.pop("TRANSFORMERS_OFFLINE", None)
        else:
            env.pop("AUTOGLM_ENGINE_ALLOW_DOWNLOAD", None)
            env["HF_HUB_OFFLINE"] = "1"
            env["TRANSFORMERS_OFFLINE"] = "1"
        return env

    def start(self) -> int:
        """Start the engine process; returns its pid. `hello` follows as an event."""
        if self.alive:
            raise RuntimeError("the engine is already running")
        if self.log is not None:
            self.log.report()  # a log that could not be opened says so once, here
        cmd_r, cmd_w = os.pipe()
        ev_r, ev_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [self.python, "-m", "console.worker.worker",
                 "--commands-fd", str(cmd_r), "--events-fd", str(ev_w)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(cmd_r, ev_w), env=self._child_env(),
                # Own session: a Ctrl-C in the terminal reaches the app, which decides.
                start_new_session=True,
            )
        finally:
            os.close(cmd_r)
            os.close(ev_w)
        self._cmd = os.fdopen(cmd_w, "wb", buffering=0)
        self._expect_exit = False
        from console.core.session import EngineStarted

        self._fold(EngineStarted(self.proc.pid))
        self._log("CLIENT", f"engine started: pid {self.proc.pid}: {self.python} -m "
                  "console.worker.worker")
        proc = self.proc
        assert proc.stdout is not None
        events_thread = threading.Thread(target=self._read_events, args=(ev_r,),
                                         name="engine-events", daemon=True)
        output_thread = threading.Thread(target=self._read_output, args=(proc.stdout,),
                                         name="engine-output", daemon=True)
        waiter = threading.Thread(target=self._wait, args=(proc, events_thread, output_thread),
                                  name="engine-waiter", daemon=True)
        self._threads = [events_thread, output_thread, waiter]
        for t in self._threads:
            t.start()
        return proc.pid

    def _read_events(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as stream:
            for raw in stream:
                try:
                    event = protocol.decode_event(raw)
                except protocol.ProtocolError as exc:
                    # A newer or broken peer: logged and dropped (shown as a line), never a crash.
                    self._deliver_output(f"[protocol] dropped a line: {exc}")
                    continue
                self._log("EVENT", json.dumps(event.wire, ensure_ascii=False))
                self._deliver(event)

    def _read_output(self, stream: BinaryIO) -> None:
        pending = b""
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            # Lines end at \n; a \r ends a progress-bar update (marked so a pane can overwrite).
            while True:
                m = re.search(rb"\r\n|\n|\r", pending)
                if m is None:
                    break
                line, sep, pending = pending[:m.start()], m.group(), pending[m.end():]
                self._deliver_output(line.decode("utf-8", errors="replace"), cr=sep == b"\r")
        if pending:
            self._deliver_output(pending.decode("utf-8", errors="replace"))
        with contextlib.suppress(OSError):
            stream.close()

    def _deliver_output(self, text: str, cr: bool = False) -> None:
        if cr and not text.strip():
            return
        self.last_lines.append(text)
        self._log("ENGINE", text)
        if cr:
            self._deliver(protocol.make_event(protocol.Output, text=text, cr=True))
        else:
            self._deliver(protocol.make_event(protocol.Output, text=text))

    def _wait(self, proc: subprocess.Popen[bytes], *readers: threading.Thread) -> None:
        returncode = proc.wait()
        for t in readers:
            t.join(timeout=2.0)  # let the last lines in before reporting the death
        sig = signal_name(returncode)
        expected = self._expect_exit
        info = protocol.make_event(protocol.Exited, returncode=returncode, signal=sig,
                                   expected=expected, pid=proc.pid,
                                   last_lines=list(self.last_lines)[-40:])
        how = f"killed by {sig}" if sig else f"exit code {returncode}"
        self._log("CLIENT", f"engine pid {proc.pid} ended ({how})"
                  f"{'' if expected else ' unexpectedly'}")
        self._deliver(info)

    def _deliver(self, msg: AnyEvent) -> None:
        if not isinstance(msg, protocol.Exited) or msg.pid == self.pid:
            self._fold(msg)  # an old process's end does not end the new one's session
        if self.messages is not None:
            self.messages.put(msg)
        if self.on_event is not None:
            try:
                self.on_event(msg)
            except Exception as exc:  # a faulty callback must not stop the reader
                self._log("CLIENT", f"on_message callback failed: {type(exc).__name__}: {exc}")

    def _log(self, kind: str, text: str) -> None:
        if self.log is not None:
            self.log.write(kind, text)

    # ------------------------------------------------------------------ commands
    def send(self, command: AnyCommand) -> int:
        """Send one typed command (its `id` is replaced by a fresh one, returned: the events
        answering it carry it as `reply_to`)."""
        with self._send_lock:
            if not self.alive or self._cmd is None:
                raise EngineDead("the engine is not running (restart it)")
            msg_id = self.next_id()
            line = protocol.encode(protocol.with_id(command, msg_id))
            self._log("CMD", line.rstrip("\n"))
            try:
                self._cmd.write(line.encode("utf-8"))
            except (BrokenPipeError, OSError, ValueError):
                raise EngineDead("the engine is not running (restart it)") from None
            return msg_id

    def _command(self, cls: type[protocol.Command], **fields: Any) -> int:
        return self.send(protocol.new_command(cls, **fields))

    def load(self, model: str, *, dtype: str = "auto", device: str = "cpu",
             max_memory: dict[str, str] | None = None, attn_implementation: str | None = None,
             trust_remote_code: bool = False, allow_pickle: bool = False,
             allow_download: bool = False, guard: dict[str, Any] | None = None,
             force: bool = False, context: int | None = None, batch: int | None = None,
             loader: str = "auto", loader_options: dict[str, Any] | None = None,
             preflight: dict[str, Any] | None = None) -> int:
        """Load `model`. `guard`: the load guard's settings for this load (`guard_settings()`;
        None keeps the engine's current ones). `force`: load even when the pre-load estimate
        says it will not fit. `context` / `batch`: what the estimate plans for. `loader`: auto
        (the fast loader when it reproduces the checkpoint exactly, else stock), fast or stock;
        `loader_options`: the fast loader's method / threads / chunk_bytes / window /
        readahead_bytes. `preflight`: a pre-flight done already (`core.session.Check.wire()`):
        the engine then re-checks only the memory free now."""
        return self._command(
            protocol.Load, model=model, dtype=dtype, device=device,
            trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
            allow_download=allow_download, guard=guard, force=force or None, context=context,
            batch=batch, max_memory=dict(max_memory) if max_memory else None,
            loader=loader if loader != "auto" else None,
            loader_options=dict(loader_options) if loader_options else None,
            attn_implementation=attn_implementation or None, preflight=preflight)

    def unload(self) -> int:
        return self._command(protocol.Unload)

    def gc(self) -> int:
        return self._command(protocol.Gc)

    def empty_cache(self) -> int:
        return self._command(protocol.EmptyCache)

    def memory_report(self) -> int:
        return self._command(protocol.MemoryReportCmd)

    def generate(self, prompt: str, *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float | None = None, seed: int | None = None, chat: bool = True,
                 min_new_tokens: int | None = None, images: list[str] | None = None) -> int:
        return self._command(protocol.Generate, prompt=prompt, max_new_tokens=max_new_tokens,
                         temperature=temperature, chat=chat, top_p=top_p, seed=seed,
                         min_new_tokens=min_new_tokens,
                         images=list(images) if images else None)  # issue 16

    def stop_generation(self) -> int:
        return self._command(protocol.StopGeneration)

    # ---- the load guard (docs/engine.md, "Guard"): each returns the command id
    def abort(self) -> int:
        """Abort the running load: it stops before its next tensor (at once when paused) with
        `aborted`, frees what it placed (`unloaded`), ends with `error` LoadAborted and state
        `idle`. `error` NotLoaded when no load runs."""
        return self._command(protocol.Abort)

    def pause(self) -> int:
        """Pause the running load: `paused` (by_user true) once it has stopped before its next
        tensor. `error` NotLoaded when no load runs."""
        return self._command(protocol.Pause)

    def resume(self, force: bool = False) -> int:
        """Resume a paused load: `resumed`, or `error` ResumeRefused with the reason while a
        resource is still at its pause level (free memory, raise the threshold, or force)."""
        return self._command(protocol.Resume, force=force or None)

    def set_thresholds(self, thresholds: Mapping[str, Any] | None = None, *,
                       auto_resume: bool | None = None, stall_s: float | None = None,
                       on_pause: str | None = None) -> int:
        """Change the guard's settings live (also during a paused load: raise a level, then
        resume, or let auto-resume do it). `thresholds`: {resource: Levels or {"pause": 95,
        ...}}; levels not given keep their values. Answered by `guard` (the settings now) or
        `error` BadCommand naming the bad key. No arguments: just report."""
        levels = ({name: _levels_dict(lv) for name, lv in thresholds.items()}
                  if thresholds else None)
        return self._command(protocol.SetThresholds, thresholds=levels, auto_resume=auto_resume,
                         stall_s=stall_s, on_pause=on_pause)

    def fingerprint(self, tensors: list[str] | None = None,
                    input_ids: list[int] | None = None) -> int:
        """sha256 of the loaded model's tensors and of its logits on `input_ids`."""
        fields: dict[str, Any] = {}
        if tensors is not None:
            fields["tensors"] = list(tensors)
        if input_ids is not None:
            fields["input_ids"] = list(input_ids)
        return self._command(protocol.Fingerprint, **fields)

    # ------------------------------------------------------------------ ending
    def _join_waiter(self, timeout: float) -> None:
        if self._threads:
            self._threads[-1].join(timeout=timeout)

    def kill(self, grace_s: float = 3.0) -> None:
        self.hard_unload(grace_s)

    def stop(self, timeout: float = 5.0) -> None:
        self.shutdown(timeout)

    def hard_unload(self, grace_s: float = 3.0) -> protocol.Exited | None:
        """Terminate the engine (SIGTERM, then SIGKILL after `grace_s`): every byte it held
        returns by construction. Returns the `exited` info."""
        proc = self.proc
        if proc is None:
            return self.exit_info
        self._expect_exit = True
        if proc.poll() is None:
            self._log("CLIENT", f"hard unload: terminating engine pid {proc.pid}")
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        self._close_cmd()
        self._join_waiter(5.0)
        return self.exit_info

    def restart(self) -> int:
        """A fresh engine process (the old one, if alive, is terminated first)."""
        if self.alive:
            self.hard_unload()
        return self.start()

    def shutdown(self, timeout: float = 5.0) -> protocol.Exited | None:
        """Ask the engine to exit; terminate it if it does not within `timeout`."""
        proc = self.proc
        if proc is None:
            return None
        self._expect_exit = True
        if proc.poll() is None:
            with contextlib.suppress(EngineDead):
                self._command(protocol.Shutdown)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return self.hard_unload()
        self._close_cmd()
        self._join_waiter(5.0)
        return self.exit_info

    def _close_cmd(self) -> None:
        with self._send_lock:
            if self._cmd is not None:
                with contextlib.suppress(OSError):
                    self._cmd.close()
                self._cmd = None

    def close(self) -> None:
        """Shut the engine down and close the session log."""
        self.shutdown()
        if self.log is not None:
            self.log.close()

    # ------------------------------------------------------------------ waiting (CLI, tests)
    def wait_for(
        self,
        events: str | Iterable[str],
        *,
        reply_to: int | None = None,
        timeout: float = 60.0,
        seen: list[AnyEvent] | None = None,
        raise_on_error: bool = False,
    ) -> AnyEvent:
        """Take messages off the queue until one named in `events` arrives (answering
        `reply_to` when given); every message taken is appended to `seen`. An `exited` message
        always ends the wait (returned). Raises TimeoutError after `timeout` seconds."""
        if self.messages is None:
            raise RuntimeError("this client delivers to a callback only (use_queue=False)")
        names = {events} if isinstance(events, str) else set(events)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {'/'.join(sorted(names))} event in {timeout} s")
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if seen is not None:
                seen.append(msg)
            name = msg.NAME
            answers = reply_to is None or msg.reply_to == reply_to
            if isinstance(msg, protocol.Exited):
                return msg
            if isinstance(msg, protocol.Error) and answers and raise_on_error:
                raise EngineCommandError(msg)
            if name in names and answers:
                return msg


class EngineCommandError(RuntimeError):
    """An `error` event answering the command being waited for."""

    def __init__(self, msg: AnyEvent) -> None:
        super().__init__(f"{msg.get('error_type')}: {msg.get('message')}")
        self.event = msg


EngineClient = LocalEngine  # the name the CLI, benchmarks and tests know
