"""The engine side of the guard: pause, resume and abort a load under memory pressure.

The decisions are `console.core.guard`'s (pure); this module feeds them readings, owns the state
between the engine's threads and emits the events:

- the **load thread** calls `LoadGuard.before_tensor(step)` before each tensor it places (it is
  one of the engine's per-tensor hooks, console/worker/hooks.py). The hook reads the memory of
  the tensor's device now (NVML for a GPU, ~9 µs; psutil for host RAM, ~60 µs), adds the
  tensor's bytes, and asks `console.core.guard.evaluate`. At the pause level it blocks on a
  condition variable (nothing more is read or placed), at the abort level, or on abort, it
  raises, and the engine frees what the load placed.
- the **monitor thread** (one per load) takes a full telemetry sample every
  `MONITOR_INTERVAL_S`: swap and swap-in readings and the history that names who grew; while
  paused it re-evaluates (auto-resume once every resource is under its resume level, abort at
  the abort level); while running it watches for a stall (no progress for `stall_s`).
- the **command thread** calls `pause`, `resume`, `abort` and `configure` (thresholds live).

Events (all answer the load's command id): `paused` (emitted by the load thread when it has
stopped), `resumed`, `aborted` (emitted by the load thread as it stops), `stalled`.

`tensor_by_tensor()` makes a transformers load grow VRAM tensor by tensor (synchronous loop,
no up-front allocator warm-up) so that a pause means something.

No torch at import: `tensor_by_tensor` imports transformers when it runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from console.core import guard
from console.core.guard import GuardState, Reading, Verdict
from console.core.sample import Sample
from console.core.units import fmt_bytes
from console.host.config import DEFAULT_LEVELS, GUARD_RESOURCES, ConfigError, Levels
from console.worker.hooks import TensorStep, normalise_device

MONITOR_INTERVAL_S = 0.25  # telemetry while a load runs (and re-evaluation while paused)
HISTORY_SAMPLES = int(guard.ATTRIBUTION_WINDOW_S / MONITOR_INTERVAL_S) + 8
GENERATION_CHECK_EVERY_TOKENS = 8  # the generation guard looks this many tokens ahead
ASYNC_LOAD_ENV = "HF_DEACTIVATE_ASYNC_LOAD"
ON_PAUSE = ("wait", "abort")

# device -> (used bytes, total bytes) now; None when unknown. "cpu" is host RAM
# (used = total - available), "cuda:N" a GPU as NVML sees it (every process counted).
DeviceMemory = Callable[[str], "tuple[int, int] | None"]
Emit = Callable[..., None]
# (bytes done, tensors done, the file being read) of the running load
ProgressSource = Callable[[], "tuple[int, int, str | None]"]


# ----------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class GuardSettings:
    """What the guard does for a load. `thresholds`: `console.host.config.Levels` per resource."""

    thresholds: dict[str, Levels] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    auto_resume: bool = False
    stall_s: float = 20.0
    on_pause: str = "wait"  # "wait": stay paused until resumed; "abort": abort instead
    enabled: bool = True  # False: the stock transformers load, no pause (abort still works)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "thresholds": {name: asdict(self.thresholds[name]) for name in GUARD_RESOURCES
                           if name in self.thresholds},
            "auto_resume": self.auto_resume, "stall_s": self.stall_s,
            "on_pause": self.on_pause, "enabled": self.enabled,
        }


def parse_settings(data: Any, base: GuardSettings) -> GuardSettings:
    """`base` changed by the `guard` field of a `load` or `set_thresholds` command:
    {"thresholds": {"ram": {"pause": 40, "resume": 35}, ...}, "auto_resume": bool,
    "stall_s": seconds, "on_pause": "wait" | "abort", "enabled": bool}. Levels not given keep
    their value; the result is validated like the config file. ValueError names the key."""
    if data is None:
        return base
    if not isinstance(data, Mapping):
        raise ValueError(f"guard: expected an object, got {type(data).__name__}")
    unknown = set(data) - {"thresholds", "auto_resume", "stall_s", "on_pause", "enabled"}
    if unknown:
        raise ValueError(f"guard: unknown key(s) {', '.join(sorted(unknown))}")
    out = base
    thresholds = dict(base.thresholds)
    for resource, levels in dict(data.get("thresholds") or {}).items():
        if resource not in GUARD_RESOURCES:
            raise ValueError(f"guard.thresholds: {resource!r} is not one of "
                             f"{', '.join(GUARD_RESOURCES)}")
        if not isinstance(levels, Mapping) or set(levels) - {"warn", "pause", "abort", "resume"}:
            raise ValueError(f"guard.thresholds.{resource}: expected an object with warn / "
                             "pause / abort / resume")
        for key, value in levels.items():
            if not (value is None and key == "abort") and (
                    isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"guard.thresholds.{resource}.{key}: expected a number, "
                                 f"got {value!r}")
        try:
            filled = guard.derive_levels(thresholds[resource], dict(levels))
            thresholds = guard.with_threshold(thresholds, resource, **filled)
        except ConfigError as exc:
            raise ValueError(f"{exc.key}: {exc.problem}") from None
    out = replace(out, thresholds=thresholds)
    if "auto_resume" in data:
        out = replace(out, auto_resume=_bool(data, "auto_resume"))
    if "enabled" in data:
        out = replace(out, enabled=_bool(data, "enabled"))
    if "stall_s" in data:
        stall = data["stall_s"]
        if isinstance(stall, bool) or not isinstance(stall, (int, float)) or stall <= 0:
            raise ValueError(f"guard.stall_s: expected seconds > 0, got {stall!r}")
        out = replace(out, stall_s=float(stall))
    if "on_pause" in data:
        if data["on_pause"] not in ON_PAUSE:
            raise ValueError(f"guard.on_pause: expected wait or abort, got {data['on_pause']!r}")
        out = replace(out, on_pause=str(data["on_pause"]))
    return out


def _bool(data: Mapping[str, Any], key: str) -> bool:
    if not isinstance(data[key], bool):
        raise ValueError(f"guard.{key}: expected true or false, got {data[key]!r}")
    return bool(data[key])


# ----------------------------------------------------------------------------------- the guard


class LoadGuard:
    """One per engine. Thread-safe: every state change happens under `_cond`."""

    def __init__(self, emit: Emit, device_memory: DeviceMemory,
                 aborted_error: Callable[[str], BaseException],
                 settings: GuardSettings | None = None,
                 telemetry_factory: Callable[[], Any] | None = None) -> None:
        self.emit = emit
        self.device_memory = device_memory
        self.aborted_error = aborted_error
        self.settings = settings or GuardSettings()
        self.pid = os.getpid()
        self._telemetry_factory = telemetry_factory
        self._telemetry: Any = None
        self._cond = threading.Condition()
        self.state: GuardState = guard.RUNNING
        self.why = ""
        self.active = False
        self.reply_to: int | None = None
        self._progress_source: ProgressSource = lambda: (0, 0, None)
        self._progress: guard.Progress | None = None
        self._stall_reported = False
        self._pending: TensorStep | None = None  # the tensor the load waits before
        self._history: deque[Sample] = deque(maxlen=HISTORY_SAMPLES)
        self._latest: Sample | None = None
        self._previous_check_ts: float | None = None
        # What the last passing check read (look-ahead included), per (resource, device).
        self._previous_values: dict[tuple[str, str | None], float | None] = {}
        self._paused_at: float | None = None
        self._stop = threading.Event()
        self._telemetry_lock = threading.Lock()
        self._monitor: threading.Thread | None = None
        self.checks = 0  # per-tensor checks in the current load

    # ------------------------------------------------------------------ load thread
    def begin(self, reply_to: int, progress: ProgressSource) -> None:
        """A load starts: reset the state, start the monitor."""
        with self._cond:
            self.state = guard.RUNNING
            self.why = ""
            self.active = True
            self.reply_to = reply_to
            self._progress_source = progress
            self._progress = guard.Progress(0, 0, time.monotonic())
            self._stall_reported = False
            self._pending = None
            self._previous_check_ts = None
            self._previous_values = {}
            self._paused_at = None
            self.checks = 0
        self._stop.clear()
        self._monitor = threading.Thread(target=self._run_monitor, name="engine-guard",
                                         daemon=True)
        self._monitor.start()

    def end(self) -> None:
        """The load finished or failed: stop the monitor."""
        self._stop.set()
        with self._cond:
            self.active = False
            self._pending = None
            self._cond.notify_all()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=5.0)
        self._monitor = None

    def before_tensor(self, step: TensorStep) -> None:
        """The per-tensor hook: check, then return (place it), block (paused) or raise."""
        check_ts = time.time()
        now = time.monotonic()
        with self._cond:
            if not self.active:
                return
            self.checks += 1
            self._pending = step
            settings = self.settings
            if self.state.mode == "running" and settings.enabled:
                readings = self._readings(step)
                verdict = guard.evaluate(readings, settings.thresholds, self.state,
                                         now=now, history=list(self._history),
                                         engine_pid=self.pid)
                if verdict.action in ("pause", "abort"):
                    # Who grew: a sample now (~1 ms, rare) rather than one up to 0.25 s old.
                    fresh = self._sample()
                    if fresh is not None:
                        self._history.append(fresh)
                        self._latest = fresh
                        verdict = guard.evaluate(readings, settings.thresholds, self.state,
                                                 now=now, history=list(self._history),
                                                 engine_pid=self.pid)
                    why = self._with_tensor(verdict, step)
                    if verdict.action == "pause" and settings.on_pause == "abort":
                        self._set(GuardState("aborted", now, verdict.state.reason),
                                  why.replace("paused:", "aborted (on pause: abort):", 1))
                    else:
                        self._set(verdict.state, why)
                else:
                    self._previous_values = {(r.resource, r.device): r.value for r in readings}
            announced = False
            while self.state.mode == "paused" and self.active:
                if not announced:
                    announced = True
                    self._paused_at = now
                    self._emit_change("paused", step, check_ts)
                self._cond.wait(MONITOR_INTERVAL_S)
            if self.state.mode == "aborted":
                self._emit_change("aborted", step, check_ts)
                self._pending = None
                raise self.aborted_error(
                    f"load aborted before tensor {step.index + 1}/{step.total}: {self.why}")
            self._pending = None
            self._previous_check_ts = time.time()

    # ------------------------------------------------------------------ command thread
    def pause(self) -> bool:
        """The user pauses: the load stops before its next tensor. False: no load runs."""
        with self._cond:
            if not self.active:
                return False
            if self.state.mode == "running":
                self._set(guard.pause_by_user(self.state, time.monotonic()), "paused by the user")
            self._cond.notify_all()
            return True

    def resume(self, force: bool = False, command_id: int | None = None) -> str | None:
        """The user resumes. None when resumed (`resumed` answers the load's id and carries
        `command_id`), else why not (still over the pause level: free memory, raise the
        threshold, or force)."""
        with self._cond:
            if not self.active:
                return "no load is running"
            readings = self._readings(self._pending)
            verdict = guard.request_resume(readings, self.settings.thresholds, self.state,
                                           now=time.monotonic(), force=force)
            if verdict.action != "resume":
                return verdict.why
            self._resume(verdict.why, by_user=True, forced=force and bool(verdict.crossings),
                         command_id=command_id)
            return None

    def raise_if_aborted(self, step: TensorStep) -> None:
        """Announce an abort the guard's own hook did not see yet (`aborted`), and raise."""
        with self._cond:
            if self.active and self.state.mode == "aborted":
                self._emit_change("aborted", step, time.time())
                self._pending = None
                raise self.aborted_error(
                    f"load aborted before tensor {step.index + 1}/{step.total}: {self.why}")

    def abort(self) -> bool:
        """The user aborts: the load stops before its next tensor (at once when paused)."""
        with self._cond:
            if not self.active:
                return False
            if self.state.mode != "aborted":
                self._set(guard.abort_by_user(time.monotonic()), "aborted by the user")
            self._cond.notify_all()
            return True

    def configure(self, settings: GuardSettings) -> None:
        """New settings, live (a raised threshold is seen at the next tensor or, while
        paused, at the monitor's next tick)."""
        with self._cond:
            self.settings = settings
            self._cond.notify_all()

    def sample_now(self) -> Sample | None:
        """A full telemetry sample now (the pre-load gate's memory reading)."""
        with self._cond:
            return self._sample()

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"mode": self.state.mode, "why": self.why, "active": self.active,
                    "by_user": self.state.by_user, "tensor_checks": self.checks,
                    **self.settings.to_json_dict()}

    # ------------------------------------------------------------------ generation
    def generation_check(self, device: str, growth_bytes: int) -> dict[str, Any] | None:
        """Would `growth_bytes` more of KV cache on `device` reach the pause level? The stop
        figures when it would, else None."""
        if not self.settings.enabled:
            return None
        memory = self.device_memory(device)
        if memory is None or memory[1] <= 0:
            return None
        used, total = memory
        resource = "ram" if device == "cpu" else "vram"
        levels = self.settings.thresholds[resource]
        value = 100.0 * (used + growth_bytes) / total
        reading = Reading(resource, value, None if device == "cpu" else device)
        crossing = guard.classify(reading, levels)
        if crossing is None or crossing.level == "warn":
            return None
        why = (f"stopped by guard: {reading.label} {100.0 * used / total:.1f}% used "
               f"({fmt_bytes(used)} of {fmt_bytes(total)}) + KV cache growth "
               f"{fmt_bytes(growth_bytes)} would reach {value:.1f}%, at or over the "
               f"{crossing.level} level {crossing.threshold:g}%")
        return {"why": why, "resource": resource, "device": device, "value": value,
                "threshold": crossing.threshold, "level": crossing.level,
                "used_bytes": used, "total_bytes": total, "kv_growth_bytes": growth_bytes}

    # ------------------------------------------------------------------ internals
    def _set(self, state: GuardState, why: str) -> None:
        self.state = state
        self.why = why

    def _resume(self, why: str, *, by_user: bool, forced: bool = False,
                command_id: int | None = None) -> None:
        paused_s = time.monotonic() - self._paused_at if self._paused_at is not None else None
        self._set(guard.RUNNING, "")
        self._paused_at = None
        # Paused time is not a stall: the stall clock restarts now.
        b, t, f = self._progress_source()
        self._progress = guard.Progress(b, t, time.monotonic(), f)
        self._stall_reported = False
        self.emit("resumed", self.reply_to, why=why, by_user=by_user, forced=forced,
                  paused_s=paused_s, command_id=command_id)
        self._cond.notify_all()

    def _with_tensor(self, verdict: Verdict, step: TensorStep) -> str:
        return (f"{verdict.why} (with the next tensor: {step.name}, {fmt_bytes(step.nbytes)} "
                f"to {step.device})")

    def _emit_change(self, name: str, step: TensorStep, check_ts: float) -> None:
        first = self.state.reason[0] if self.state.reason else None
        bytes_done, tensors_done, _ = self._progress_source()
        self.emit(name, self.reply_to, resource=first.resource if first else None,
                  device=first.device if first else None,
                  value=first.value if first else None,
                  threshold=first.threshold if first else None,
                  level=first.level if first else None,
                  why=self.why, by_user=self.state.by_user,
                  tensor=step.name, tensor_bytes=step.nbytes, tensor_device=step.device,
                  tensor_index=step.index, tensors_total=step.total,
                  tensors_done=tensors_done, bytes_done=bytes_done,
                  check_ts=check_ts, previous_check_ts=self._previous_check_ts,
                  previous_value=self._previous_values.get((first.resource, first.device))
                  if first else None,
                  settings=self.settings.to_json_dict())

    def _readings(self, step: TensorStep | None, sample: Sample | None = None
                  ) -> list[Reading]:
        """The guarded values now, with `step`'s bytes added to its device (look-ahead):
        VRAM of the tensor's GPU, host RAM (fresh), swap % and swap-in from the last sample."""
        out: list[Reading] = []
        device = step.device if step is not None else None
        nbytes = step.nbytes if step is not None else 0
        gpus = {d for d in [device] if d and d.startswith("cuda")}
        for gpu_device in sorted(gpus):
            mem = self.device_memory(gpu_device)
            if mem is not None and mem[1] > 0:
                out.append(Reading("vram", 100.0 * (mem[0] + nbytes) / mem[1], gpu_device))
        host = self.device_memory("cpu")
        if host is not None and host[1] > 0:
            extra = nbytes if device == "cpu" else 0
            out.append(Reading("ram", 100.0 * (host[0] + extra) / host[1]))
        sample = sample or self._latest
        if sample is not None:
            out.extend(r for r in guard.readings_from_sample(sample)
                       if r.resource in ("swap", "swap_in"))
        return out

    def _sample(self) -> Sample | None:
        """A full telemetry sample (NVML every GPU with its processes, host, this engine)."""
        try:
            with self._telemetry_lock:
                if self._telemetry is None:
                    if self._telemetry_factory is not None:
                        self._telemetry = self._telemetry_factory()
                    else:
                        from console.host.telemetry import Telemetry

                        self._telemetry = Telemetry()
                    self._telemetry.watch(self.pid)
                telemetry = self._telemetry
            sample: Sample = telemetry.sample()
            return sample
        except Exception:  # telemetry must never take a load down
            return None

    def _run_monitor(self) -> None:
        while True:
            sample = self._sample()
            now = time.monotonic()
            with self._cond:
                if not self.active:
                    return
                if sample is not None:
                    self._history.append(sample)
                    self._latest = sample
                self._tick(sample, now)
            if self._stop.wait(MONITOR_INTERVAL_S):
                return

    def _tick(self, sample: Sample | None, now: float) -> None:
        """One monitor tick, under the lock."""
        settings = self.settings
        if self.state.mode == "paused":
            verdict = guard.evaluate(self._readings(self._pending, sample), settings.thresholds,
                                     self.state, now=now, auto_resume=settings.auto_resume,
                                     history=list(self._history), engine_pid=self.pid)
            if verdict.action == "resume":
                self._resume(verdict.why, by_user=False)
            elif verdict.action == "abort":
                self._set(verdict.state, verdict.why)
                self._cond.notify_all()
            return
        if self.state.mode != "running":
            return
        bytes_done, tensors_done, current_file = self._progress_source()
        previous = self._progress
        self._progress = guard.advance(previous, bytes_done, tensors_done, now, current_file)
        if previous is not None and self._progress.changed_at != previous.changed_at:
            self._stall_reported = False
        stall = guard.detect_stall(self._progress, now, settings.stall_s, sample,
                                   engine_pid=self.pid)
        if stall is not None and not self._stall_reported:
            self._stall_reported = True
            fields = stall.event()
            fields.pop("event")
            self.emit("stalled", self.reply_to, **fields, tensors_done=tensors_done,
                      bytes_done=bytes_done, stall_s=settings.stall_s)


# ----------------------------------------------------------------------------------- loading


@dataclass
class Placement:
    """Where a load puts each tensor, as transformers decided (its expanded device map)."""

    default_device: str
    expanded: dict[str, str] = field(default_factory=dict)
    warmup_patched: bool = False
    synchronous: bool = False

    def device_for(self, name: str) -> str:
        return self.expanded.get(name, self.default_device)


def default_device(device: str, cuda_available: bool) -> str:
    """The device a load's tensors go to when the device map does not say: "cuda" is cuda:0,
    "auto" the first GPU (or the host)."""
    if device == "cuda" or (device == "auto" and cuda_available):
        return "cuda:0"
    if device == "auto":
        return "cpu"
    return device


@contextlib.contextmanager
def tensor_by_tensor(default: str) -> Iterator[Placement]:
    """For the duration of one load, make transformers place weights one tensor at a time:

    - `HF_DEACTIVATE_ASYNC_LOAD=1`: transformers 5.x reads it (through `is_env_variable_true`)
      each time `core_model_loading.convert_and_load_state_dict_in_model` runs; set, the loop
      materialises each tensor when it reaches it instead of submitting every read and copy
      to a thread pool up front. 4.x loads synchronously anyway.
    - `modeling_utils.caching_allocator_warmup` (which reserves the whole model on the GPU
      before the first weight moves) becomes a no-op that records the expanded device map, so
      each tensor's device is known to the hooks. Feature-detected; restored afterwards.

    Neither changes a single value loaded: the same tensors are read and converted the same
    way, only when and where memory is reserved changes."""
    placement = Placement(default)
    previous_env = os.environ.get(ASYNC_LOAD_ENV)
    os.environ[ASYNC_LOAD_ENV] = "1"
    placement.synchronous = True
    mu: Any = None
    original = None
    try:
        import transformers.modeling_utils as mu_module

        mu = mu_module
        original = getattr(mu, "caching_allocator_warmup", None)
    except ImportError:
        pass

    def record_device_map(*args: Any, **kwargs: Any) -> None:
        device_map = args[1] if len(args) > 1 else kwargs.get("expanded_device_map")
        if isinstance(device_map, dict):
            placement.expanded = {str(k): normalise_device(v) for k, v in device_map.items()}

    if original is not None:
        mu.caching_allocator_warmup = record_device_map
        placement.warmup_patched = True
    try:
        yield placement
    finally:
        if original is not None:
            mu.caching_allocator_warmup = original
        if previous_env is None:
            os.environ.pop(ASYNC_LOAD_ENV, None)
        else:
            os.environ[ASYNC_LOAD_ENV] = previous_env


# ----------------------------------------------------------------------------------- pre-load gate


@dataclass(frozen=True)
class Gate:
    """The pre-load gate's answer. `refusal` None: go on. `fields`: the `preflight` event's
    figures (findings, verdict, reason, suggestions, device, peak_bytes, ...)."""

    refusal: str | None
    kind: str  # "" | "broken" | "will_not_fit"
    hint: str
    forced: bool
    elapsed_s: float
    fields: dict[str, Any]

    @property
    def kv_bytes_per_token(self) -> int | None:
        value = self.fields.get("kv_bytes_per_token")
        return int(value) if value is not None else None

    @property
    def peak_bytes(self) -> int | None:
        value = self.fields.get("peak_bytes")
        return int(value) if value is not None else None

    @property
    def reason(self) -> str:
        return str(self.fields.get("reason") or "")

    def event_fields(self) -> dict[str, Any]:
        return {"ok": self.refusal is None, "refusal": self.refusal, "kind": self.kind,
                "forced": self.forced, **self.fields, "elapsed_s": self.elapsed_s}


def _result_fields(r: Any) -> dict[str, Any]:
    """The `preflight` figures of a CheckResult."""
    est, fit = r.estimate, r.fit
    return {
        "source": "engine",
        "findings": [asdict(f) for f in r.report.findings],
        "verdict": fit.verdict if fit is not None else None,
        "reason": fit.reason if fit is not None else (r.estimate_problem or r.device_problem),
        "suggestions": [s.text for s in fit.suggestions] if fit is not None else [],
        "device": r.device,
        "peak_bytes": est.peak_bytes if est is not None else None,
        "weights_bytes": est.weights.bytes if est is not None else None,
        "kv_bytes_per_token": int(est.kv_bytes_per_token) if est is not None else None,
        "context": est.context if est is not None else None,
        "batch": est.batch if est is not None else None,
    }


def _fit_gate(fields: dict[str, Any], verdict: str | None, reason: str, suggestions: list[str],
              *, force: bool, elapsed: float) -> Gate:
    if verdict == "will_not_fit":
        hint = "; ".join([*suggestions, "or load anyway: F in the console, --force on the "
                          "command line (the guard still watches)"])
        if force:
            return Gate(None, "will_not_fit", hint, True, elapsed, fields)
        return Gate(f"will not fit: {reason}", "will_not_fit", hint, False, elapsed, fields)
    return Gate(None, "", "", False, elapsed, fields)


def recheck_gate(preflight: Mapping[str, Any], *, force: bool, settings: GuardSettings,
                 sample: Sample | None) -> Gate | None:
    """The gate for a load the app has pre-flighted already (the Load command's `preflight`:
    its verdict, `needs` {device: bytes} and the estimate's figures): the checkpoint is not
    read again; only what can have changed since, the memory free now, is checked. None when
    `preflight` lacks what the re-check needs (the full gate runs then)."""
    from console.core.check import memory_now
    from console.core.estimate import fit_needs

    needs = preflight.get("needs")
    if not preflight.get("ok") or not isinstance(needs, Mapping) or not needs or sample is None:
        return None
    started = time.perf_counter()
    memory, _ = memory_now(sample)
    verdict = fit_needs([(str(d), int(b)) for d, b in needs.items()], memory,
                        pause_pct=settings.thresholds["vram"].pause)
    fields = {key: preflight.get(key) for key in ("device", "peak_bytes", "weights_bytes",
                                                  "kv_bytes_per_token", "context", "batch")}
    fields.update(source="app", findings=[], verdict=verdict.verdict, reason=verdict.reason,
                  suggestions=[])
    return _fit_gate(fields, verdict.verdict, verdict.reason, [], force=force,
                     elapsed=time.perf_counter() - started)


def preload_gate(model: str, path: Path, *, dtype: str, device: str, context: int | None,
                 batch: int, trust_remote_code: bool, allow_pickle: bool, force: bool,
                 settings: GuardSettings, sample: Sample | None) -> Gate:
    """Pre-flight (headers and metadata only) and the estimate against memory now.
    `dtype`: "auto", "bfloat16", "float16" or "float32"."""
    from console.core.check import assess
    from console.core.preflight import check_model_dir
    from console.core.sample import HostSample, NvmlStatus

    if sample is None:  # no reading: the fit is unknown, the pre-flight still runs
        sample = Sample(0.0, 0.0, NvmlStatus("error", "no telemetry sample"), (),
                        HostSample(None, (), None, None, None, None, None, None, None, None,
                                   None))

    started = time.perf_counter()
    report = check_model_dir(path, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    result = assess(model, path, report, sample, settings.thresholds,
                    dtype=dtype, context=context, batch=batch,
                    device="cuda:0" if device == "cuda" else device)
    elapsed = time.perf_counter() - started
    fields = _result_fields(result)
    errors = report.errors
    if errors:
        # The problems in the message, their fixes once each in the hint (sixteen truncated
        # tensors share one "download it again").
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        refusal = "pre-flight: " + "; ".join(f.problem_line() for f in errors[:3]) + more
        hint = "; ".join(dict.fromkeys(f.fix for f in errors if f.fix))
        return Gate(refusal, "broken", hint, False, elapsed, fields)
    fit = result.fit
    if fit is None or result.device_problem is not None:
        return Gate(None, "", "", False, elapsed, fields)
    return _fit_gate(fields, fit.verdict, fit.reason, [s.text for s in fit.suggestions],
                     force=force, elapsed=elapsed)
