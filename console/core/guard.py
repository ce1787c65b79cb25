"""The guard: pure decisions about memory pressure during a load (and a generate).

(readings or a Sample, thresholds, state, time) -> verdict. No I/O and no clock reads: the
caller passes `now` (monotonic seconds) and the samples. The engine asks `evaluate` on
each telemetry sample; the UI shows `why`.

Resources (console.host.config.GUARD_RESOURCES) and their units:
    vram     % of a GPU's memory used (NVML, every process counted), one reading per GPU
    ram      % of host RAM used (100 - available)
    swap     % of swap used
    swap_in  MiB/s swapped in (thrashing)
Each has warn / pause / abort levels and a lower resume level (`console.host.config.Levels`).

States: "running" -> "paused" when any reading reaches its pause level; "paused" stays paused
until EVERY reading is back under its resume level (hysteresis), then resumes by itself with
auto-resume or waits for the user; any reading at its abort level -> "aborted" (the engine
frees what the load placed). A reading that is unknown (None) neither pauses nor blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from console.core.sample import Sample
from console.host.config import GUARD_RESOURCES, Levels

MIB = 1024**2
GIB = 1024**3
ATTRIBUTION_WINDOW_S = 20.0
ATTRIBUTION_MIN_BYTES = 256 * MIB  # growth smaller than this is not worth naming
LEVEL_ORDER = ("warn", "pause", "abort")


@dataclass(frozen=True, slots=True)
class Reading:
    """One guarded value now."""

    resource: str  # "vram" | "ram" | "swap" | "swap_in"
    value: float | None  # % or MiB/s; None = unknown
    device: str | None = None  # "cuda:0" for vram; None for host resources

    @property
    def label(self) -> str:
        if self.resource == "vram":
            index = (self.device or "cuda:?").split(":")[-1]
            return f"GPU{index} VRAM"
        return {"ram": "host RAM", "swap": "swap", "swap_in": "swap-in"}.get(
            self.resource, self.resource)

    @property
    def unit(self) -> str:
        return " MiB/s" if self.resource == "swap_in" else "%"

    def show(self, value: float | None = None) -> str:
        v = self.value if value is None else value
        return "N/A" if v is None else f"{v:.0f}{self.unit}"


@dataclass(frozen=True, slots=True)
class Crossing:
    """A reading at or over one of its levels."""

    resource: str
    device: str | None
    label: str
    value: float
    threshold: float
    level: str  # "warn" | "pause" | "abort" | "resume" (still over resume while paused)
    unit: str

    def text(self) -> str:
        op = ">=" if self.value == self.threshold else ">"
        return f"{self.label} {self.value:.0f}{self.unit} {op} {self.threshold:.0f}{self.unit}"

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GuardState:
    mode: str = "running"  # "running" | "paused" | "aborted"
    since: float | None = None  # monotonic time the mode was entered
    reason: tuple[Crossing, ...] = ()  # what paused or aborted it
    by_user: bool = False  # paused or aborted by the user, not by a level


RUNNING = GuardState()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do now, the new state, and why.

    action: "continue" (nothing over warn), "warn" (go on, something is over warn), "pause"
    (stop placing weights now), "stay_paused", "resume", "abort".
    """

    action: str
    state: GuardState
    crossings: tuple[Crossing, ...]  # every reading at warn or above (resume while paused)
    why: str
    can_resume: bool = False  # paused and every reading is under its resume level

    def event(self) -> dict[str, Any] | None:
        """The JSON event for a change of state (paused / resumed / aborted), else None."""
        name = {"pause": "paused", "resume": "resumed", "abort": "aborted"}.get(self.action)
        if name is None:
            return None
        first = self.state.reason[0] if self.state.reason else (
            self.crossings[0] if self.crossings else None)
        return {
            "event": name,
            "resource": first.resource if first else None,
            "device": first.device if first else None,
            "value": first.value if first else None,
            "threshold": first.threshold if first else None,
            "why": self.why,
        }


# ----------------------------------------------------------------------------------------------
# Readings


def readings_from_sample(sample: Sample) -> tuple[Reading, ...]:
    """VRAM % for every GPU, host RAM %, swap % and swap-in MiB/s from one telemetry Sample."""
    out: list[Reading] = []
    for gpu in sample.gpus:
        frac = gpu.memory_used_fraction
        out.append(Reading("vram", None if frac is None else 100.0 * frac, f"cuda:{gpu.index}"))
    host = sample.host
    ram = host.ram_used_fraction
    swap = host.swap_used_fraction
    out.append(Reading("ram", None if ram is None else 100.0 * ram))
    # no swap configured: 0% used, not unknown
    if swap is None and host.swap_total_bytes == 0:
        swap = 0.0
    out.append(Reading("swap", None if swap is None else 100.0 * swap))
    rate = host.swap_in_bytes_per_s
    out.append(Reading("swap_in", None if rate is None else rate / MIB))
    return tuple(out)


def _crossing(reading: Reading, threshold: float, level: str) -> Crossing:
    assert reading.value is not None
    return Crossing(reading.resource, reading.device, reading.label, float(reading.value),
                    float(threshold), level, reading.unit)


def classify(reading: Reading, levels: Levels) -> Crossing | None:
    """The highest level `reading` is at or over (warn / pause / abort), None under warn."""
    if reading.value is None:
        return None
    if levels.abort is not None and reading.value >= levels.abort:
        return _crossing(reading, levels.abort, "abort")
    if reading.value >= levels.pause:
        return _crossing(reading, levels.pause, "pause")
    if reading.value >= levels.warn:
        return _crossing(reading, levels.warn, "warn")
    return None


def _levels(thresholds: Mapping[str, Levels], resource: str) -> Levels | None:
    return thresholds.get(resource) if resource in GUARD_RESOURCES else None


# ----------------------------------------------------------------------------------------------
# Attribution: who grew?


def attribute(
    history: Sequence[Sample], crossing: Crossing, now: float,
    window_s: float = ATTRIBUTION_WINDOW_S, engine_pid: int | None = None,
) -> str:
    """"pid 4121 grew by 6.2 GiB in the last 20 s" for the process whose memory on the
    crossing's device (GPU memory from NVML's process list; host RSS of watched processes for
    RAM) grew most over the window; "" when nothing grew by ATTRIBUTION_MIN_BYTES."""
    recent = [s for s in history if now - window_s <= s.monotonic <= now]
    if len(recent) < 2:
        return ""
    first, last = recent[0], recent[-1]
    before: dict[int, tuple[int, str | None]] = {}
    after: dict[int, tuple[int, str | None]] = {}
    if crossing.resource == "vram":
        index = int((crossing.device or "cuda:0").split(":")[-1])
        for sample, table in ((first, before), (last, after)):
            gpu = next((g for g in sample.gpus if g.index == index), None)
            for p in gpu.processes if gpu else ():
                if p.gpu_memory_bytes is not None:
                    used, _ = table.get(p.pid, (0, None))
                    table[p.pid] = (used + p.gpu_memory_bytes, p.name)
    elif crossing.resource in ("ram", "swap", "swap_in"):
        for sample, table in ((first, before), (last, after)):
            for proc in sample.watched:
                if proc.rss_bytes is not None:
                    table[proc.pid] = (proc.rss_bytes, None)
    else:
        return ""
    best_pid, best_growth, best_name = None, 0, None
    for pid, (used, name) in after.items():
        growth = used - before.get(pid, (0, None))[0]
        if growth > best_growth:
            best_pid, best_growth, best_name = pid, growth, name
    if best_pid is None or best_growth < ATTRIBUTION_MIN_BYTES:
        return ""
    who = f"pid {best_pid}"
    if best_pid == engine_pid:
        who += " (the engine)"
    elif best_name:
        who += f" ({best_name})"
    seconds = max(1, round(last.monotonic - first.monotonic))
    return f"{who} grew by {best_growth / GIB:.1f} GiB in the last {seconds} s"


def _why(prefix: str, crossings: Sequence[Crossing], history: Sequence[Sample], now: float,
         engine_pid: int | None) -> str:
    parts = [c.text() for c in crossings]
    if crossings:
        who = attribute(history, crossings[0], now, engine_pid=engine_pid)
        if who:
            parts.append(who)
    return f"{prefix}: " + "; ".join(parts) if parts else prefix


# ----------------------------------------------------------------------------------------------
# The decision


def evaluate(
    readings: Sequence[Reading],
    thresholds: Mapping[str, Levels],
    state: GuardState,
    *,
    now: float,
    auto_resume: bool = False,
    history: Sequence[Sample] = (),
    engine_pid: int | None = None,
) -> Verdict:
    """The verdict for `readings` given the state. `history`: recent samples, oldest first,
    for the why-text's attribution (who grew)."""
    crossings: list[Crossing] = []
    for r in readings:
        levels = _levels(thresholds, r.resource)
        c = classify(r, levels) if levels is not None else None
        if c is not None:
            crossings.append(c)
    crossings.sort(key=lambda c: (-LEVEL_ORDER.index(c.level), -(c.value - c.threshold)))
    aborting = [c for c in crossings if c.level == "abort"]
    pausing = [c for c in crossings if c.level in ("pause", "abort")]

    if state.mode == "aborted":
        return Verdict("abort", state, tuple(crossings), "aborted")
    if aborting:
        new = GuardState("aborted", now, tuple(aborting))
        return Verdict("abort", new, tuple(crossings),
                       _why("aborted", aborting, history, now, engine_pid))
    if state.mode == "running":
        if pausing:
            new = GuardState("paused", now, tuple(pausing))
            return Verdict("pause", new, tuple(crossings),
                           _why("paused", pausing, history, now, engine_pid))
        if crossings:
            why = "warning: " + "; ".join(c.text() for c in crossings)
            return Verdict("warn", state, tuple(crossings), why)
        return Verdict("continue", state, (), "")
    # paused: every reading must be back under its resume level
    blockers: list[Crossing] = []
    for r in readings:
        levels = _levels(thresholds, r.resource)
        if levels is None or r.value is None:
            continue
        if r.value >= levels.resume:
            blockers.append(_crossing(r, levels.resume, "resume"))
    if blockers:
        text = "paused: waiting for " + "; ".join(
            f"{b.label} {b.value:.0f}{b.unit} to drop under {b.threshold:.0f}{b.unit}"
            for b in blockers)
        if state.reason and not state.by_user:
            text += " (paused by " + ", ".join(c.text() for c in state.reason) + ")"
        return Verdict("stay_paused", state, tuple(blockers), text, can_resume=False)
    if auto_resume and not state.by_user:
        return Verdict("resume", GuardState("running", now), (),
                       "resumed: every resource is back under its resume level")
    return Verdict("stay_paused", state, (),
                   "paused: every resource is back under its resume level; resume when ready",
                   can_resume=True)


def pause_by_user(state: GuardState, now: float) -> GuardState:
    return state if state.mode != "running" else GuardState("paused", now, (), by_user=True)


def abort_by_user(now: float) -> GuardState:
    return GuardState("aborted", now, (), by_user=True)


def request_resume(
    readings: Sequence[Reading], thresholds: Mapping[str, Levels], state: GuardState, *,
    now: float, force: bool = False,
) -> Verdict:
    """The user asks to resume. Refused while a reading is still at its pause level (the load
    would pause again at once) unless `force`; between resume and pause it is allowed: the
    user knows what they freed."""
    if state.mode != "paused":
        return Verdict("continue" if state.mode == "running" else "abort", state, (),
                       f"not paused ({state.mode})")
    still: list[Crossing] = []
    for r in readings:
        levels = _levels(thresholds, r.resource)
        c = classify(r, levels) if levels is not None else None
        if c is not None and c.level in ("pause", "abort"):
            still.append(c)
    if still and not force:
        return Verdict("stay_paused", state, tuple(still),
                       "cannot resume: " + "; ".join(c.text() for c in still)
                       + " (free memory, raise the threshold, or force)")
    return Verdict("resume", GuardState("running", now), tuple(still), "resumed by the user")


def with_threshold(thresholds: Mapping[str, Levels], resource: str, **levels: float | None
                   ) -> dict[str, Levels]:
    """A copy of `thresholds` with some levels of `resource` changed (the guard panel's raise /
    lower). Validated like the config file (console.host.config.validate_levels)."""
    from console.host.config import validate_levels

    base = thresholds[resource]
    vals: dict[str, float | None] = {
        "warn": base.warn, "pause": base.pause, "abort": base.abort, "resume": base.resume}
    vals.update(levels)
    out = dict(thresholds)
    out[resource] = validate_levels("guard", resource, vals)
    return out


def derive_levels(base: Levels, given: Mapping[str, float | None]) -> dict[str, float | None]:
    """`given` levels plus the others moved so the set stays valid (warn <= pause <= abort,
    resume < pause): a new pause drags warn down to it, abort up to it, and takes resume along
    at the same distance below it as before; an abort given alone under the pause brings the
    pause down to it. Levels given explicitly are kept as they are (and validated)."""
    out: dict[str, float | None] = dict(given)
    pause = given.get("pause")
    abort_given = given.get("abort")
    if pause is None and abort_given is not None and abort_given < base.pause:
        pause = out["pause"] = abort_given
    if pause is None:
        pause = base.pause
    if "warn" not in given:
        out["warn"] = min(base.warn, pause)
    if "abort" not in given and base.abort is not None:
        out["abort"] = max(base.abort, pause)
    if "resume" not in given and pause != base.pause:
        out["resume"] = max(0.0, pause - (base.pause - base.resume))
    return out


# ----------------------------------------------------------------------------------------------
# Stall detection


@dataclass(frozen=True, slots=True)
class Progress:
    """Load progress as the engine reports it, with when it last moved."""

    bytes_done: int
    tensors_done: int
    changed_at: float  # monotonic time of the last change
    current_file: str | None = None


def advance(previous: Progress | None, bytes_done: int, tensors_done: int, now: float,
            current_file: str | None = None) -> Progress:
    """The progress after a report: `changed_at` moves only when bytes or tensors moved."""
    file = current_file or (previous.current_file if previous is not None else None)
    if previous is not None and (bytes_done, tensors_done) == (
            previous.bytes_done, previous.tensors_done):
        return replace(previous, current_file=file)
    return Progress(bytes_done, tensors_done, now, file)


@dataclass(frozen=True, slots=True)
class Stall:
    seconds: float  # since the last progress
    disk_read_bytes_per_s: float | None
    swap_in_bytes_per_s: float | None
    engine_cpu_percent: float | None
    current_file: str | None
    likely: str  # the most likely reason, from the evidence
    text: str

    def event(self) -> dict[str, Any]:
        return {"event": "stalled", **asdict(self)}


def _rate(v: float | None) -> str:
    if v is None:
        return "N/A"
    return f"{v / MIB:.1f} MiB/s" if v >= 0.05 * MIB else "0 MiB/s"


def detect_stall(
    progress: Progress, now: float, stall_s: float, sample: Sample | None = None,
    engine_pid: int | None = None,
) -> Stall | None:
    """"stalled" when the load has not moved for `stall_s` seconds, with the evidence at hand:
    disk read rate, swap-in rate, the engine's CPU, the file being read."""
    idle = now - progress.changed_at
    if idle < stall_s:
        return None
    disk = swap_in = cpu = None
    if sample is not None:
        disk = sample.host.disk_read_bytes_per_s
        swap_in = sample.host.swap_in_bytes_per_s
        engine = next((p for p in sample.watched if p.pid == engine_pid), None)
        if engine is None and len(sample.watched) == 1:
            engine = sample.watched[0]
        cpu = engine.cpu_percent if engine is not None else None
    if swap_in is not None and swap_in >= 10 * MIB:
        likely = "the host is swapping (thrashing): free RAM or abort"
    elif disk is not None and disk >= 1 * MIB:
        likely = "waiting on the disk: it is reading slowly"
    elif cpu is not None and cpu >= 50:
        likely = "the engine is busy on the CPU (converting or unpickling?)"
    elif engine_pid is not None and sample is not None and cpu is None:
        likely = "the engine is not reporting: is it alive?"
    else:
        likely = "nothing is moving: the engine may be blocked (a lock, a network mount)"
    evidence = [f"disk read {_rate(disk)}", f"swap-in {_rate(swap_in)}",
                "engine CPU " + ("N/A" if cpu is None else f"{cpu:.0f}%")]
    if progress.current_file:
        evidence.append(f"reading {progress.current_file}")
    text = f"stalled: no progress for {idle:.0f} s; " + ", ".join(evidence) + f" - {likely}"
    return Stall(idle, disk, swap_in, cpu, progress.current_file, likely, text)
