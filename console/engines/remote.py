"""`RemoteEngine`: a served engine (vLLM, SGLang, `transformers serve`) as an `Engine`.

The process side is console/engines/served.py's `ServedEngine` (process group, live diagnosis,
tree memory, the start-up timeline, readiness = `/health` + one chat answered, the stop
sequence SIGINT -> SIGTERM -> SIGKILL); this module translates its dict events into the typed
events of `console.core.protocol`, so the same `Session` and the same TUI render it:

- `start()` starts the server for `spec.model`: `Hello` (no torch on our side: `torch` says
  "served:<engine>"), `State loading`, then `Output` for each line of the server's log (made
  safe for a terminal), `Log` for phases / warnings / diagnoses, `Stalled` when a start-up
  phase takes too long, `Paused` / `Resumed` / `Aborted` from the guard during start-up, and
  once ready `Loaded` + `State loaded`.
- `Generate` streams one chat request over the OpenAI API: `State generating`, a `Token` per
  text chunk, `Generated` with TTFT and tok/s, `State loaded`. `StopGeneration` ends the stream.
  Its image files (issue 16's picker) go as `image_url` content parts holding data: URLs
  (console/core/apiimages.py: header and size checked first; a bad one is `Error` "BadImage",
  one line, nothing sent); `Generated` then lists the images, the server's prompt tokens and
  each image's tokens by the model's processor limits.
- `Ping` answers `Pong`; `Pause` / `Resume` (SIGSTOP / SIGCONT of the group) and `Abort` (the
  stop sequence) while it starts. With `guard_options` and `telemetry` the start-up guard of
  `serve` (the same ProcessWatch) pauses the group at a pause level; a resume while a resource
  is still at its pause level is `Error` "ResumeRefused" unless forced. `Unload` stops the
  server and answers `Unloaded` with the memory proof (the group's RSS, and its VRAM from NVML's
  per-process figures where there is a GPU); `Load` of the model it serves answers its state;
  everything else (another model, gc, empty_cache, fingerprints, ...) answers `Error`
  "Unsupported" with the reason.
- `stop()` / `kill()` run the stop sequence (kill with short waits), then `Log` with what
  the process tree held before and after, then `Exited`. A server that ends unasked gives
  `Exited` with `expected` False and its last log lines.

No torch, no textual; HTTP through the stdlib (served.py).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from console.core import apiimages, guard, protocol, vision
from console.core.exits import signal_name
from console.core.levels import GUARD_RESOURCES, ConfigError
from console.core.protocol import AnyCommand, Command, Event
from console.core.serving import ServeSpec
from console.core.termsafe import safe_line
from console.core.units import fmt_bytes
from console.engines import served
from console.engines.base import Engine, EngineDead, OnEvent
from console.engines.supervise import GuardOptions

# Waits of the stop sequence: stop() gives the server time to exit cleanly, kill() does not.
STOP_WAITS = {"sigint_wait_s": 5.0, "sigterm_wait_s": 2.0}  # within run_app's 8 s join
KILL_WAITS = {"sigint_wait_s": 0.5, "sigterm_wait_s": 1.0}
LAST_LINES = 20


class _StopStream(Exception):
    """Raised from the token callback to end a streaming chat (StopGeneration)."""




def _holding_text(event: Mapping[str, Any]) -> str:
    """What a stopped (or stopping) server still holds, from the watch's event."""
    if "holds_rss_bytes" not in event:
        return ""
    vram = event.get("holds_vram_bytes")
    text = f"; it still holds RSS {fmt_bytes(int(event['holds_rss_bytes']))}"
    if vram is not None:
        text += f", VRAM {fmt_bytes(int(vram))}"
    stopped = event.get("stopped_processes")
    if stopped:
        text += f" ({stopped} process{'es' if stopped != 1 else ''} stopped)"
    return text


class RemoteEngine(Engine):
    """One served engine as an `Engine`; see the module docstring."""

    def __init__(self, spec: ServeSpec, on_event: OnEvent | None = None, *,
                 env: Mapping[str, str] | None = None, poll_s: float = 1.0,
                 stall_s: float = 300.0, label: str | None = None,
                 telemetry: Any | None = None,
                 guard_options: GuardOptions | None = None) -> None:
        """`telemetry`: an object whose `sample()` gives the machine's Sample (the app passes
        the sample it shows); with `guard_options` (the config's thresholds) the start-up
        guard pauses the server's process group at a pause level, as `serve` does."""
        super().__init__(on_event)
        self.spec = spec
        self._env = dict(env or {})
        self._poll_s = poll_s
        self._stall_s = stall_s
        self._telemetry = telemetry
        self._guard_options = guard_options
        self.label = label or f"{spec.engine} serve: {os.path.basename(spec.model) or spec.model}"
        self.server: served.ServedEngine | None = None
        self.state = "stopped"
        self._stopping = False
        self._exited = threading.Event()
        self._generating = threading.Lock()
        self._stop_generation = threading.Event()
        self._lock = threading.RLock()  # re-entrant: a callback on start()'s own thread
        self._proof: dict[str, Any] = {}  # the watch's "stopped" event (memory before/after)

    # -- the Engine interface ------------------------------------------------------------

    def start(self) -> int | None:
        with self._lock:
            if self.alive:
                return self.pid
            self._stopping = False
            self._exited.clear()
            self.server = served.ServedEngine(
                self.spec, self._translate, env=self._env, poll_s=self._poll_s,
                metrics_s=max(self._poll_s, 2.0), stall_s=self._stall_s,
                telemetry=self._telemetry, guard_options=self._guard_options,
                on_abort=lambda: self._end(STOP_WAITS))
            try:
                self.server.start()
            except served.ServedError:
                self.server = None
                raise
            pid = self.server.watch.group.pid if self.server.watch.group else None
            self._emit(protocol.Hello, protocol=protocol.PROTOCOL_VERSION, pid=pid or 0,
                       python=sys.version.split()[0], torch=f"served:{self.spec.engine}",
                       transformers="", devices=[], offline=self._env.get(
                           "HF_HUB_OFFLINE") == "1")
            self._state("loading", model=self.spec.model)
            return pid

    def send(self, command: AnyCommand) -> int:
        if not self.alive:
            raise EngineDead(f"the {self.spec.engine} server is not running (L starts it)")
        msg_id = self.next_id()
        typed = protocol.with_id(command, msg_id)
        match typed:
            case protocol.Generate():
                threading.Thread(target=self._generate, args=(typed,), name="served-generate",
                                 daemon=True).start()
            case protocol.StopGeneration():
                self._stop_generation.set()
            case protocol.Ping():
                self._emit(protocol.Pong, msg_id, sent_ts=typed.sent_ts, state=self.state)
            case protocol.Pause():
                self._pause(msg_id, pause=True)
            case protocol.Resume():
                self._pause(msg_id, pause=False, force=typed.force)
            case protocol.Abort():
                self._abort(msg_id)
            case protocol.SetThresholds():
                self._set_thresholds(typed, msg_id)
            case protocol.Load() if typed.model in (self.spec.model, "demo"):
                self._state(self.state, msg_id, model=self.spec.model)
            case protocol.Unload() | protocol.Shutdown():
                threading.Thread(target=self._unload, args=(msg_id, typed.NAME),
                                 name="served-unload", daemon=True).start()
            case _:
                self._unsupported(typed, msg_id)
        return msg_id

    def stop(self, timeout: float = 5.0) -> None:
        self._end(STOP_WAITS)

    def kill(self, grace_s: float = 3.0) -> None:
        self._end(KILL_WAITS)

    @property
    def pid(self) -> int | None:
        server = self.server
        if server is None or server.watch.group is None or not server.watch.running:
            return None
        return server.watch.group.pid

    @property
    def alive(self) -> bool:
        return self.server is not None and self.server.watch.running and not self._stopping

    def wait_exited(self, timeout: float) -> bool:
        """Wait until `Exited` was delivered."""
        return self._exited.wait(timeout)

    # -- commands --------------------------------------------------------------------------

    def _unsupported(self, command: Command, msg_id: int) -> None:
        what = command.NAME
        if isinstance(command, protocol.Load):
            why = (f"this {self.spec.engine} server serves {self.spec.model}; stop it (U) and "
                   f"start one for {command.model}")
        else:
            why = f"a {self.spec.engine} server cannot do {what!r} (only the in-process engine)"
        self._emit(protocol.Error, msg_id, error_type="Unsupported", message=why,
                   traceback="", command=what)

    def _pause(self, msg_id: int, *, pause: bool, force: bool = False) -> None:
        """P / R while the server starts: SIGSTOP / SIGCONT of its group (the watch reports
        `Paused` / `Resumed`). A resume after a guard pause is refused while a resource is
        still at its pause level (`ResumeRefused`: the app asks whether to force it)."""
        server = self.server
        if server is None or self.state != "loading":
            self._emit(protocol.Error, msg_id, error_type="Unsupported", traceback="",
                       command="pause" if pause else "resume",
                       message="pause and resume act while the server starts, not after")
            return
        if pause:
            server.pause()
            return
        refused = server.resume(force=force)
        if refused is not None:
            self._emit(protocol.Error, msg_id, error_type="ResumeRefused", traceback="",
                       command="resume", message=safe_line(refused))

    def _abort(self, msg_id: int) -> None:
        """A while the server starts: stop it (the stop sequence, then the memory proof)."""
        server = self.server
        if server is None or self.state != "loading":
            self._emit(protocol.Error, msg_id, error_type="Unsupported", traceback="",
                       command="abort",
                       message=f"A aborts a start; the {self.spec.engine} server is "
                               f"{self.state} (U stops it)")
            return
        server.abort()

    def _set_thresholds(self, command: protocol.SetThresholds, msg_id: int) -> None:
        """New guard levels / auto-resume for the start-up guard, live (the app's + / - / T):
        partial levels are filled as the in-process engine fills them; `Guard` answers."""
        options = self._guard_options
        if options is None:
            self._emit(protocol.Error, msg_id, error_type="Unsupported", traceback="",
                       command="set_thresholds",
                       message=f"this {self.spec.engine} server was started without a guard")
            return
        levels = dict(options.thresholds)
        try:
            for resource, given in (command.thresholds or {}).items():
                if resource not in levels or not isinstance(given, Mapping):
                    raise ValueError(f"thresholds.{resource}: not a guarded resource with "
                                     "warn / pause / abort / resume")
                filled = guard.derive_levels(levels[resource], dict(given))
                levels = guard.with_threshold(levels, resource, **filled)
        except (ValueError, ConfigError) as exc:
            text = f"{exc.key}: {exc.problem}" if isinstance(exc, ConfigError) else str(exc)
            self._emit(protocol.Error, msg_id, error_type="BadCommand", traceback="",
                       command="set_thresholds", message=safe_line(f"set_thresholds: {text}"))
            return
        auto = options.auto_resume if command.auto_resume is None else command.auto_resume
        self._guard_options = replace(options, thresholds=levels, auto_resume=auto)
        server = self.server
        if server is not None:
            server.watch.set_guard(self._guard_options)
        mode = server.watch.guard_state.mode if server is not None else "running"
        self._emit(protocol.Guard, msg_id, mode=mode, auto_resume=auto,
                   thresholds={name: lv.to_wire() for name, lv in levels.items()
                               if name in GUARD_RESOURCES})

    def _generate(self, command: protocol.Generate) -> None:
        msg_id = command.id
        if self.state != "loaded" or self.server is None:
            self._emit(protocol.Error, msg_id, error_type="NotLoaded", traceback="",
                       command="generate",
                       message=f"the {self.spec.engine} server is {self.state}, not ready")
            return
        if not self._generating.acquire(blocking=False):
            self._emit(protocol.Error, msg_id, error_type="Busy", traceback="",
                       command="generate", message="a generation is running (S stops it)")
            return
        self._stop_generation.clear()
        server = self.server
        try:
            message, images = apiimages.user_message(command.prompt, command.images or ())
        except apiimages.ApiImageError as exc:
            self._generating.release()
            self._emit(protocol.Error, msg_id, error_type="BadImage", traceback="",
                       command="generate", message=safe_line(str(exc)))
            return
        extra = self._image_fields(images)
        parts: list[str] = []
        self._state("generating", msg_id)
        t0 = time.perf_counter()
        ttft: float | None = None

        def on_text(text: str, index: int) -> None:
            nonlocal ttft
            if ttft is None:
                ttft = time.perf_counter() - t0
            parts.append(text)
            self._emit(protocol.Token, msg_id, text=text, token_ids=[], index=index)
            if self._stop_generation.is_set():
                raise _StopStream

        try:
            try:
                result = served.chat(server.url, server.model_name, [message],
                                     max_tokens=command.max_new_tokens,
                                     temperature=command.temperature, on_text=on_text)
            except _StopStream:
                total = time.perf_counter() - t0
                n = len(parts)
                rate = (n - 1) / (total - (ttft or 0.0)) if n > 1 and total > (ttft or 0) \
                    else None
                self._emit(protocol.Generated, msg_id, tokens=n, ttft_s=ttft,
                           tokens_per_s=rate, kv_cache_bytes=None, stopped="stop",
                           text="".join(parts), **extra)
            except served.ServedError as exc:
                self._emit(protocol.Error, msg_id, error_type="ServedError", traceback="",
                           command="generate", message=safe_line(str(exc)))
            else:
                stopped = "length" if result.completion_tokens >= command.max_new_tokens \
                    else "eos"
                self._emit(protocol.Generated, msg_id, tokens=result.completion_tokens,
                           ttft_s=result.ttft_s, tokens_per_s=result.tokens_per_s,
                           kv_cache_bytes=None, stopped=stopped, text=result.text,
                           prompt_tokens=result.prompt_tokens, **extra)
        finally:
            self._generating.release()
            if self.alive:
                self._state("loaded", msg_id)

    def _image_fields(self, images: list[apiimages.ApiImage]) -> dict[str, Any]:
        """`Generated`'s image fields for the images sent: each image's size, and its tokens
        by the model's own processor limits (the server's processor resizes by the same
        rule) when the model directory's files say them."""
        if not images:
            return {}
        fields: dict[str, Any] = {"images": [img.to_json_dict() for img in images]}
        limits = vision.limits_of_model_dir(self.spec.model)
        if isinstance(limits, vision.ProcessorLimits):
            try:
                per_image = [vision.image_tokens(img.header.height, img.header.width, limits)
                             for img in images]
            except vision.VisionError:
                return fields
            fields["image_tokens_per_image"] = per_image
            fields["image_tokens"] = sum(per_image)
        return fields

    def _unload(self, msg_id: int, name: str) -> None:
        self._end(STOP_WAITS, reply_to=msg_id, unloaded=name == "unload")

    def _end(self, waits: Mapping[str, float], reply_to: int | None = None, *,
             unloaded: bool = False) -> None:
        """Stop the server (if it runs), then `Log` the memory proof (and `Unloaded`, for an
        unload) and `Exited`."""
        with self._lock:
            server = self.server
            if server is None or self._stopping:
                return
            self._stopping = True
        self._stop_generation.set()
        report = server.stop(**waits)
        proof = self._proof
        before = int(proof.get("rss_before_bytes") or 0)
        after = int(proof.get("rss_after_bytes") or 0)
        left = proof.get("pids_left") or []
        # VRAM per process from NVML (None: no GPU view): the whole group's, before and after
        vram_before, vram_after = proof.get("vram_before_bytes"), proof.get("vram_after_bytes")
        vram = "" if vram_before is None else (
            f", VRAM {fmt_bytes(int(vram_before))} -> {fmt_bytes(int(vram_after or 0))}")
        self._emit(protocol.Log, reply_to, level="info", message=safe_line(
            f"{self.spec.engine} server stopped ({' -> '.join(report.signals) or 'exited'}, "
            f"{report.seconds:.1f} s): RSS {fmt_bytes(before)} -> {fmt_bytes(after)}{vram}, "
            f"{len(left)} process(es) left"))
        if unloaded:
            if vram_before is None:
                held = f"held {fmt_bytes(before)}, now {fmt_bytes(after)}"
            else:
                held = (f"held {fmt_bytes(before)} RSS and {fmt_bytes(int(vram_before))} VRAM, "
                        f"now {fmt_bytes(after)} and {fmt_bytes(int(vram_after or 0))}")
            msg = (f"{self.spec.engine} server stopped in {report.seconds:.1f} s: its "
                   f"processes {held}")
            freed = max(before - after, 0) + max(int(vram_before or 0) - int(vram_after or 0), 0)
            still = after + int(vram_after or 0)
            self._emit(protocol.Unloaded, reply_to, freed_bytes=freed,
                       seconds=report.seconds, held_bytes=still,
                       held_by={} if still == 0 else {"processes": still}, message=msg)
        self._exited_event(server, expected=True)

    # -- events ----------------------------------------------------------------------------

    def _emit(self, cls: type[Event], reply_to: int | None = None, **fields: Any) -> None:
        event = protocol.make_event(cls, reply_to, **fields)
        if self.on_event is not None:
            self.on_event(event)

    def _state(self, state: str, reply_to: int | None = None, **fields: Any) -> None:
        self.state = state
        self._emit(protocol.State, reply_to, state=state, label=self.label, **fields)

    def _exited_event(self, server: served.ServedEngine, *, expected: bool) -> None:
        if self._exited.is_set():
            return
        self._exited.set()
        self.state = "stopped"
        code = server.watch.exit_code
        self._emit(protocol.Exited, returncode=code, signal=signal_name(code),
                   expected=expected,
                   last_lines=[safe_line(line) for line in server.watch.lines[-LAST_LINES:]],
                   pid=server.watch.group.pid if server.watch.group else None)

    def _translate(self, event: dict[str, Any]) -> None:
        """One of ServedEngine's dict events -> typed events (called on its threads)."""
        server = self.server
        kind = event.get("event")
        if kind == "stopped":
            self._proof = dict(event)
        elif kind == "log":
            self._emit(protocol.Output, text=safe_line(str(event.get("line", ""))))
        elif kind == "ready" and server is not None:
            mem = server.watch.last_memory
            rss = mem.rss_bytes if mem is not None else 0
            self._emit(protocol.Loaded, model=self.spec.model, path=self.spec.model,
                       label=self.label, model_type="served", model_class=self.spec.engine,
                       load_s=float(event.get("ready_s") or 0.0),
                       memory={"devices": [], "rss_bytes": rss, "rss_baseline_bytes": 0},
                       loader=f"{self.spec.engine} at {server.url}")
            self._state("loaded")
        elif kind == "phase":
            self._emit(protocol.Log, level="info", message=safe_line(
                f"phase {event.get('phase')} at {event.get('t_s')} s"))
        elif kind == "stalled":
            self._emit(protocol.Stalled, seconds=float(self._stall_s),
                       text=safe_line(str(event.get("why", ""))), current_file=None)
        elif kind in ("warning", "diagnosis"):
            text = event.get("why") or event.get("summary") or ""
            causes = ", ".join(c["id"] for c in event.get("causes") or [])
            self._emit(protocol.Log, level="warning" if kind == "warning" else "error",
                       message=safe_line(f"{text}" + (f" [{causes}]" if causes else "")))
        elif kind == "paused":
            by_user = bool(event.get("by_user"))
            held = _holding_text(event)
            self._emit(protocol.Paused, resource=None if by_user else event.get("resource"),
                       value=event.get("value"), threshold=event.get("threshold"),
                       why=safe_line(str(event.get("why", "guard")) + held), tensor_index=0)
            self._emit(protocol.Log, level="info" if by_user else "warning", message=safe_line(
                f"{self.spec.engine} server paused (SIGSTOP){held}"))
        elif kind == "resumed":
            self._emit(protocol.Resumed, why=safe_line(str(event.get("why") or "resumed")))
        elif kind == "aborted":
            by_user = bool(event.get("by_user"))
            self._emit(protocol.Aborted, resource=None if by_user else event.get("resource"),
                       value=event.get("value"), threshold=event.get("threshold"),
                       why=safe_line(str(event.get("why", "guard")) + _holding_text(event)))
        elif kind == "exit" and server is not None and not self._stopping:
            # A server that dies at once may be seen on the watch's thread while start() has
            # not yet said Hello and "loading": wait for start() to finish, so `Exited` comes
            # last and the engine ends dead, not loading.
            with self._lock:
                pass
            why = safe_line(str(event.get("why", "")))
            self._emit(protocol.Log, level="error",
                       message=f"the {self.spec.engine} server ended: {why}")
            self._exited_event(server, expected=False)

