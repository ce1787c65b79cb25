"""The one engine session: a frozen `Session` and the pure `apply(session, event)`.

Everything the console knows about its engine lives here, folded from the engine's typed
events (`console.core.protocol`) and from the app's own happenings (`SessionEvent`s below: a
load asked for, a pre-flight done, a threshold raised, a one-line notice): the engine state,
the model and its label, the current run's result block (fresh on each load and unload), the
guard's mode and the effective thresholds (`Levels`, one type), the pre-flight of the selected
model, the last result, the allocator figures, the generation and its stats, the estimate vs
actual rows, the engine's end, the last ping's round-trip time.

The app holds one `session` reactive as it holds `sample`; every panel renders from the
(sample, session) pair; `autoglm-console load` folds the same events. Pure: no clock reads (a
time comes in an event), no I/O, no textual, no torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from typing_extensions import assert_never

from console.core import autoglm, vision
from console.core.hints import contains_hint
from console.core.levels import DEFAULT_LEVELS, GUARD_RESOURCES, Levels
from console.core.protocol import (
    Aborted,
    AnyEvent,
    BehaviourDone,
    Bye,
    CacheEmptied,
    Error,
    Exited,
    FingerprintDone,
    GcDone,
    Generated,
    Guard,
    Hello,
    Loaded,
    Log,
    MemoryReport,
    Output,
    Paused,
    Pong,
    Preflight,
    Progress,
    Resumed,
    Stalled,
    State,
    Token,
    Unloaded,
)

if TYPE_CHECKING:  # the estimate module is imported when a comparison is made (startup time)
    from console.core.estimate import Comparison

# What `Session.engine` can be: the engine's own states (protocol.STATES), and the client's:
# stopped (no process, or it ended when asked), starting (spawned, no hello yet), dead (it
# ended unasked).
ENGINE_STATES = ("stopped", "starting", "idle", "loading", "loaded", "generating", "unloading",
                 "error", "dead")


@dataclass(frozen=True)
class Line:
    """One line of text to show and its level: None (neutral), "warning" or "error"."""

    text: str
    level: str | None = None


@dataclass(frozen=True)
class Check:
    """The pre-flight of the selected model (the app runs it off the UI thread): `result` a
    `console.core.check.CheckResult` or None, `verdict` fits | tight | will_not_fit | broken |
    unknown, `text` its report."""

    model: str
    result: Any
    text: str
    verdict: str
    options: tuple[Any, ...] = ()  # (dtype, device, context, batch) it was checked for

    def wire(self) -> dict[str, Any] | None:
        """The Load command's `preflight` (the engine then re-checks only the free memory),
        or None when there is no estimate to pass."""
        est = getattr(self.result, "estimate", None)
        if est is None or self.verdict == "broken":
            return None
        return {"ok": True, "verdict": self.verdict, "device": self.result.device,
                "needs": {share.device: share.total_bytes for share in est.devices},
                "peak_bytes": est.peak_bytes, "weights_bytes": est.weights.bytes,
                "kv_bytes_per_token": est.kv_bytes_per_token, "context": est.context,
                "batch": est.batch}


@dataclass(frozen=True)
class Generation:
    """The current or last generation: the text so far and its figures."""

    running: bool = False
    text: str = ""
    tokens: int = 0
    kv_cache_bytes: int | None = None
    done: Generated | None = None
    images: tuple[str, ...] = ()  # the image files sent with the prompt (issue 16)
    # AutoGLM's answer parsed from the output (an image prompt, a vision model, or an output in
    # its think/answer format); None otherwise.
    answer: autoglm.Answer | None = None


@dataclass(frozen=True)
class Session:
    engine: str = "stopped"
    pid: int | None = None
    hello: Hello | None = None
    model: str | None = None  # what the running or last load asked for
    label: str | None = None  # the loaded model's label ("demo: random weights")
    run: int = 0  # counts load / unload starts: each has a fresh result block
    load_pending: bool = False  # a load was sent and the engine has not started it yet
    progress: Progress | None = None
    preflight: Preflight | None = None  # the engine's answer to this run's load
    loaded: Loaded | None = None
    guard_mode: str = "running"  # running | paused | aborted
    guard_by_user: bool = False  # the pause / abort was the user's own (P, A), not the guard's
    guard_line: Line = Line("guard: running")
    guard_events: tuple[str, ...] = ()  # paused / resumed / aborted / stalled, in order
    stalled: bool = False
    levels: Mapping[str, Levels] = field(
        default_factory=lambda: {name: DEFAULT_LEVELS[name] for name in GUARD_RESOURCES})
    auto_resume: bool = False
    check: Check | None = None
    result: Line | None = None  # the last result (load, unload, gc, error, notices)
    comparison: tuple[Comparison, ...] = ()
    allocator: MemoryReport | None = None
    generation: Generation = Generation()
    exited: Exited | None = None
    ping_rtt_s: float | None = None
    # The loaded model's image processor limits (issue 16): None for a text-only model,
    # "unknown" while none is loaded or they cannot be read (the app reads them on `loaded`).
    vision_limits: vision.ProcessorLimits | str | None = "unknown"

    @property
    def alive(self) -> bool:
        return self.engine not in ("stopped", "dead")

    @property
    def shown_state(self) -> str:
        """The state line's word: the engine's state, or the guard's while a load waits."""
        if self.engine == "loading" and self.guard_mode == "paused":
            return "paused by you" if self.guard_by_user else "paused"
        if self.engine == "loading" and self.stalled:
            return "stalled"
        return self.engine


# ------------------------------------------------------------------- the app's happenings


@dataclass(frozen=True)
class EngineStarted:
    pid: int | None


@dataclass(frozen=True)
class LoadRequested:
    """The user asked for a load: a fresh result block."""

    model: str
    forced: bool = False


@dataclass(frozen=True)
class CheckDone:
    check: Check


@dataclass(frozen=True)
class Notice:
    """A one-line result of the user's own action ("Load: type a model ...")."""

    text: str
    level: str | None = None


@dataclass(frozen=True)
class LevelsSet:
    """Thresholds the app changed (config, `+`); the engine's `Guard` answer supersedes."""

    levels: Mapping[str, Levels]


@dataclass(frozen=True)
class AutoResumeSet:
    on: bool


@dataclass(frozen=True)
class GenerationStarted:
    images: tuple[str, ...] = ()  # the image files sent with the prompt


@dataclass(frozen=True)
class VisionRead:
    """The loaded model's image processor limits, read by the app from its files (None:
    text-only; "unknown": unreadable)."""

    limits: vision.ProcessorLimits | str | None


SessionEvent: TypeAlias = (
    EngineStarted | LoadRequested | CheckDone | Notice | LevelsSet | AutoResumeSet
    | GenerationStarted | VisionRead
)


def _answer(session: Session, generated: Generated) -> autoglm.Answer | None:
    """AutoGLM's parsed answer when the output is one: an image prompt, a vision model loaded,
    or an output in its think/answer format; else None."""
    text = generated.text
    model_type = session.loaded.model_type if session.loaded is not None else ""
    if not (session.generation.images or generated.image_tokens
            or isinstance(session.vision_limits, vision.ProcessorLimits)
            or model_type.startswith("glm4v") or "<answer>" in text or "<think>" in text):
        return None
    return autoglm.parse(text, tokens=generated.tokens, stopped=generated.stopped)


def figures_text(figures: Mapping[str, Any]) -> str:
    """One device's allocator figures (or host RSS on the CPU) from a gc/empty_cache side."""
    from console.core.units import fmt_bytes

    devices = figures.get("devices") or []
    if not devices:
        return f"RSS {fmt_bytes(figures.get('rss_bytes'))}"
    return "; ".join(
        f"{d['device']} alloc {fmt_bytes(d.get('allocated_bytes'))} "
        f"res {fmt_bytes(d.get('reserved_bytes'))} NVML {fmt_bytes(d.get('nvml_used_bytes'))}"
        for d in devices)


def exit_how(exited: Exited) -> str:
    """'killed by SIGKILL' / 'exit code 1'."""
    return (f"killed by {exited.signal}" if exited.signal
            else f"exit code {exited.returncode}")


def _estimate(session: Session) -> Any:
    check = session.check
    if check is None or check.result is None or check.model != session.model:
        return None
    return getattr(check.result, "estimate", None)


def after_load_bytes(memory: Mapping[str, Any]) -> int:
    """What the load added: the engine's NVML usage on its GPUs, else host RSS growth."""
    devices = memory.get("devices") or []
    if devices:
        return sum(int(d.get("nvml_used_bytes") or 0) for d in devices)
    return int(memory.get("rss_bytes") or 0) - int(memory.get("rss_baseline_bytes") or 0)


def _loaded_comparison(session: Session, loaded: Loaded) -> tuple[Comparison, ...]:
    est = _estimate(session)
    if est is None:
        return ()
    from console.core.estimate import compare

    return compare(est, weights_bytes=loaded.param_bytes,
                   after_load_bytes=after_load_bytes(loaded.memory))


def _kv_comparison(session: Session, generated: Generated) -> tuple[Comparison, ...]:
    est = _estimate(session)
    if est is None or generated.kv_cache_bytes is None:
        return session.comparison
    from console.core.estimate import Comparison

    tokens = int(generated.prompt_tokens or 0) + generated.tokens
    return (Comparison(f"KV cache ({tokens} tokens)", est.kv_bytes_per_token * tokens,
                       generated.kv_cache_bytes),)


def _levels_from_wire(current: Mapping[str, Levels], wire: Mapping[str, Any]
                      ) -> dict[str, Levels]:
    merged = dict(current)
    for name, value in wire.items():
        if name in merged and isinstance(value, Mapping):
            merged[name] = Levels.from_wire(value, merged[name])
    return merged


def apply(session: Session, event: AnyEvent | SessionEvent) -> Session:
    """The session after `event`. Pure."""
    replace = dataclasses.replace
    match event:
        # ---- the app's own happenings
        case EngineStarted(pid=pid):
            return replace(session, engine="starting", pid=pid, exited=None, hello=None,
                           allocator=None, loaded=None, progress=None)
        case LoadRequested(model=model):
            return replace(session, model=model, run=session.run + 1, progress=None,
                           preflight=None, loaded=None, label=None, comparison=(),
                           result=None, guard_mode="running", guard_by_user=False,
                           stalled=False, guard_line=Line("guard: running"), load_pending=True,
                           vision_limits="unknown")
        case CheckDone(check=check):
            checked = replace(session, check=check)
            if (check.model != session.model and session.engine not in ("loading", "loaded",
                                                                           "generating")):
                # Another model was picked: the last model's result block is not its.
                checked = replace(checked, result=None, comparison=(), progress=None,
                                  preflight=None)
            if session.loaded is not None and not session.comparison:
                # A model built by its load (the demo) is checked after it: compare now.
                checked = replace(checked, comparison=_loaded_comparison(checked, session.loaded))
            return checked
        case Notice(text=text, level=level):
            return replace(session, result=Line(text, level))
        case LevelsSet(levels=levels):
            return replace(session, levels={**session.levels, **levels})
        case AutoResumeSet(on=on):
            return replace(session, auto_resume=on)
        case GenerationStarted(images=images):
            return replace(session, generation=Generation(running=True, images=images))
        case VisionRead(limits=limits):
            return replace(session, vision_limits=limits)
        # ---- the engine's events
        case Hello():
            return replace(session, hello=event, pid=event.pid, exited=None,
                           engine="idle" if session.engine in ("starting", "stopped", "dead")
                           else session.engine)
        case State(state=state):
            changes: dict[str, Any] = {"engine": state}
            if state != "idle":
                changes["load_pending"] = False
            if state == "loading":
                changes.update(guard_mode="running", guard_by_user=False, stalled=False,
                               label=None, guard_line=Line("guard: running"))
                if event.model is not None and event.model != session.model:
                    changes.update(model=event.model, progress=None, loaded=None,
                                   comparison=(), run=session.run + 1)
            elif state == "unloading":
                changes.update(run=session.run + 1, progress=None)
            elif state in ("loaded", "generating"):
                changes["stalled"] = False
            elif state in ("idle", "error") and session.loaded is None:
                changes["progress"] = None  # no progress bar when nothing loads
            if event.label:
                changes["label"] = event.label
            if state != "generating" and session.generation.running:
                changes["generation"] = replace(session.generation, running=False)
            return replace(session, **changes)
        case Progress():
            return replace(session, progress=event, stalled=False)
        case Preflight():
            return replace(session, preflight=event)
        case Loaded():
            loader = f"; loader {event.loader}" if event.loader else ""
            why = f" ({event.fallback_reason})" if event.fallback_reason else ""
            return replace(
                session, engine="loaded", loaded=event, label=event.label or event.model,
                result=Line(f"loaded {event.model} ({event.model_class}) in "
                            f"{event.load_s:.2f} s{loader}{why}"),
                comparison=_loaded_comparison(session, event))
        case Unloaded():
            warn = event.held_bytes > 0 and bool(event.held_by)
            return replace(session, loaded=None, allocator=None, progress=None,
                           vision_limits="unknown",
                           result=Line(event.message, "warning" if warn else None))
        case GcDone():
            return replace(session, result=Line(
                f"gc (collected {event.collected}): before {figures_text(event.before)} -> "
                f"after {figures_text(event.after)}"))
        case CacheEmptied():
            return replace(session, result=Line(
                f"empty_cache: before {figures_text(event.before)} -> "
                f"after {figures_text(event.after)}"))
        case MemoryReport():
            return replace(session, allocator=event)
        case Token():
            gen = session.generation
            return replace(session, generation=replace(
                gen, running=True, text=gen.text + event.text, tokens=event.index,
                kv_cache_bytes=event.kv_cache_bytes))
        case Generated():
            return replace(session, generation=Generation(
                running=False, text=session.generation.text or event.text,
                tokens=event.tokens, kv_cache_bytes=event.kv_cache_bytes, done=event,
                images=session.generation.images, answer=_answer(session, event)),
                comparison=_kv_comparison(session, event))
        case Paused():
            if event.resource is None:  # P: the user's own choice, said neutrally
                return replace(session, guard_mode="paused", guard_by_user=True,
                               guard_line=Line("paused by you — R resumes, A aborts"),
                               guard_events=(*session.guard_events, "paused"))
            return replace(session, guard_mode="paused", guard_by_user=False, guard_line=Line(
                f"paused: {event.why}", "warning"),
                guard_events=(*session.guard_events, "paused"))
        case Resumed():
            return replace(session, guard_mode="running", guard_by_user=False, stalled=False,
                           guard_line=Line(f"resumed: {event.why}"),
                           guard_events=(*session.guard_events, "resumed"))
        case Aborted():
            if event.resource is None:  # A: the user's own choice
                return replace(session, guard_mode="aborted", guard_by_user=True,
                               guard_line=Line("aborted by you"),
                               guard_events=(*session.guard_events, "aborted"))
            return replace(session, guard_mode="aborted", guard_by_user=False,
                           guard_line=Line(f"aborted: {event.why}", "error"),
                           guard_events=(*session.guard_events, "aborted"))
        case Stalled():
            return replace(session, stalled=True, guard_line=Line(
                f"stalled {event.seconds:.0f} s: {event.text}", "warning"),
                guard_events=(*session.guard_events, "stalled"))
        case Guard():
            auto = session.auto_resume if event.auto_resume is None else event.auto_resume
            return replace(session, levels=_levels_from_wire(session.levels, event.thresholds),
                           auto_resume=auto)
        case Error(error_type="LoadAborted") if session.guard_by_user:
            return replace(session, progress=None, result=Line(
                f"load of {session.model or 'the model'} aborted by you; L loads again"))
        case Error() if session.load_pending:
            hint = f" ({event.hint})" if event.hint and not contains_hint(event.message,
                                                                         event.hint) else ""
            return replace(session, load_pending=False, result=Line(
                f"error {event.error_type}: {event.message}{hint}", "error"))
        case Error():
            hint = f" ({event.hint})" if event.hint and not contains_hint(event.message,
                                                                         event.hint) else ""
            return replace(session, result=Line(
                f"error {event.error_type}: {event.message}{hint}", "error"))
        case Pong():
            rtt = (event.received_ts - event.sent_ts
                   if event.sent_ts is not None and event.received_ts else None)
            return replace(session, ping_rtt_s=rtt)
        case Exited():
            result = session.result
            if event.expected and session.loaded is not None:
                result = Line("engine ended: every byte the model held returned")
            elif not event.expected:
                result = Line(f"the engine {exit_how(event)}; X restarts it", "error")
            return replace(session, engine="stopped" if event.expected else "dead",
                           exited=event, loaded=None, allocator=None, pid=None,
                           progress=None, result=result, load_pending=False,
                           vision_limits="unknown",
                           generation=replace(session.generation, running=False))
        case Output() | Log() | Bye() | FingerprintDone() | BehaviourDone():
            return session
        case _:
            assert_never(event)
