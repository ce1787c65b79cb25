"""The model view's engine box: what the engine process holds, live, against the guard.

`VRAM ██████░░░░▼░░░┃░│ 12.0 GiB / 80.0 GiB`: the engine's own VRAM (NVML's process list)
as a bar on the GPU's total, the pre-flight estimate as a `▼` marker and the guard's pause and
abort levels as `┃` and `│`; under it a sparkline of the last samples. The same for the
engine's RSS on host RAM (on a machine without a GPU the VRAM part is one line). Then the
allocator row, the guard's levels and state, the engine's end, the last ping.

Renders only from what the app gives it (session, sample, history); keeps no engine state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from console.core.levels import Levels
from console.core.sample import Sample
from console.core.session import Line, Session, exit_how
from console.core.units import fmt_bytes
from widgets.engine_strip import SPARK, engine_proc
from widgets.model_panel import allocator_text, guard_levels_text

BAR_MIN = 10


def marker_bar(used: float, total: float, width: int, markers: Sequence[tuple[float, str]]
               ) -> str:
    """A bar of `width` cells, filled to used/total, with marker characters at fractions."""
    width = max(BAR_MIN, width)
    cells = ["█" if (i + 0.5) / width <= used / total else "░" for i in range(width)]
    for fraction, char in markers:
        if 0 <= fraction <= 1:
            cells[min(width - 1, int(fraction * width))] = char
    return "".join(cells)


def fixed_spark(values: Sequence[float], maximum: float, width: int) -> str:
    """A sparkline on 0..maximum (absolute scale), newest at the right."""
    if maximum <= 0:
        return ""
    tail = list(values)[-width:]
    return "".join(SPARK[min(len(SPARK) - 1, max(0, int(v / maximum * (len(SPARK) - 1))))]
                   for v in tail)


def _level_markers(levels: Levels | None) -> list[tuple[float, str]]:
    if levels is None:
        return []
    marks = [(levels.pause / 100, "┃")]
    if levels.abort is not None:
        marks.append((levels.abort / 100, "│"))
    return marks


def vram_lines(session: Session, sample: Sample | None, history: Sequence[Sample],
               width: int) -> list[str]:
    """The VRAM part: one line on a machine without a GPU."""
    if sample is None:
        return ["VRAM: waiting for the first sample"]
    if not sample.gpus:
        return ["VRAM: no GPU (NVML sees none); the engine runs on the CPU"]
    gpu = sample.gpus[0]
    total = gpu.memory_total_bytes or 0
    proc = engine_proc(sample, session.pid)
    mine = float(proc.gpu_memory_bytes or 0) if proc is not None else 0.0
    if total <= 0:
        return [f"VRAM: engine {fmt_bytes(mine)} (GPU total N/A)"]
    markers = _level_markers(session.levels.get("vram"))
    est = _estimate_bytes(session)
    if est:
        markers.append((est / total, "▼"))
    label = f" {fmt_bytes(mine)} / {fmt_bytes(total)}"
    bar = marker_bar(mine, total, width - 5 - len(label), markers)
    values = [float(p.gpu_memory_bytes or 0) for s in history
              if (p := engine_proc(s, session.pid)) is not None]
    lines = [f"VRAM {bar}{label}"]
    legend = "     ┃ pause  │ abort" + ("  ▼ estimate " + fmt_bytes(est) if est else "")
    lines.append(legend)
    if values:
        lines.append("     " + fixed_spark(values, total, width - 6))
    return lines


def rss_lines(session: Session, sample: Sample | None, history: Sequence[Sample],
              width: int) -> list[str]:
    proc = engine_proc(sample, session.pid)
    if sample is None or proc is None:
        return ["RSS: no engine process" if not session.alive else "RSS: N/A (not sampled yet)"]
    total = float(sample.host.ram_total_bytes or 0)
    rss = float(proc.rss_bytes or 0)
    cpu = "N/A" if proc.cpu_percent is None else f"{proc.cpu_percent:.0f}%"
    label = f" {fmt_bytes(rss)} CPU {cpu}"
    values = [float(p.rss_bytes or 0) for s in history
              if (p := engine_proc(s, session.pid)) is not None]
    if total <= 0:
        return [f"RSS {label.strip()}"]
    bar = marker_bar(rss, total, width - 5 - len(label), _level_markers(session.levels.get("ram")))
    lines = [f"RSS  {bar}{label}"]
    if values:
        lines.append("     " + fixed_spark(values, max(values), width - 6))
    return lines


def default_device(session: Session, sample: Sample | None) -> str:
    """The device a load with an empty device field goes to (see ConsoleApp.default_device)."""
    hello = session.hello
    if hello is not None and hello.cuda_available is not None:
        return "cuda:0" if hello.cuda_available else "cpu"
    return "auto" if sample is not None and sample.gpus else "cpu"


def device_note(session: Session, sample: Sample | None) -> str:
    """The doctor's finding when the driver sees a GPU the engine's torch cannot use."""
    hello = session.hello
    if hello is None or hello.cuda_available is not False or sample is None or not sample.gpus:
        return ""
    build = "a CPU-only build" if hello.cuda is None else f"built for CUDA {hello.cuda}"
    return (f"device: cpu by default: the engine's torch {hello.torch} ({build}) cannot use "
            f"the {len(sample.gpus)} GPU(s) the driver sees; D (doctor) says how to fix it")


def _estimate_bytes(session: Session) -> int | None:
    check = session.check
    if check is None or check.result is None or (session.model and check.model != session.model):
        return None
    est = getattr(check.result, "estimate", None)
    total = getattr(est, "peak_bytes", None)
    return int(total) if isinstance(total, (int, float)) else None


LinesOf = Callable[[Session, Sample | None, Sequence[Sample], int], list[str]]


class MemoryLines(Widget):
    """Bar lines drawn at paint time for the width the widget has then (a bar never overflows
    or wraps, whatever the layout did since the data came)."""

    DEFAULT_CSS = "MemoryLines { height: auto; }"

    def __init__(self, lines_of: LinesOf, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines_of = lines_of
        self.data: tuple[Session, Sample | None, Sequence[Sample]] | None = None

    def set_data(self, session: Session, sample: Sample | None,
                 history: Sequence[Sample]) -> None:
        self.data = (session, sample, history)
        self.refresh(layout=True)

    def text(self, width: int | None = None) -> str:
        if self.data is None:
            return ""
        session, sample, history = self.data
        width = max(30, width or self.content_region.width or 60)
        return "\n".join(self.lines_of(session, sample, list(history)[-(width - 6):], width))

    def render(self) -> str:
        return self.text(self.content_region.width)

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return max(1, self.text(width).count("\n") + 1)


class EngineBox(Vertical):
    DEFAULT_CSS = """
    EngineBox { height: auto; }
    EngineBox .line { height: auto; }
    EngineBox #engine-vram, EngineBox #engine-rss { height: auto; }
    EngineBox .-problem { color: $error; }
    EngineBox .-warning { color: $warning; }
    EngineBox #death { color: $error; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="device-note", classes="line -warning", markup=False)
        yield MemoryLines(vram_lines, id="engine-vram")
        yield MemoryLines(rss_lines, id="engine-rss")
        yield Static("allocator: N/A (no model loaded)", id="allocator", classes="line",
                     markup=False)
        yield Static("", id="guard-levels", classes="line", markup=False)
        yield Static("guard: running", id="guard-state", classes="line", markup=False)
        yield Static("", id="death", classes="line", markup=False)
        yield Static("ping: N/A", id="ping", classes="line", markup=False)

    def _line(self, widget_id: str, text: str, level: str | None = None) -> None:
        widget = self.query_one(f"#{widget_id}", Static)
        widget.update(text)
        widget.set_class(level == "error", "-problem")
        widget.set_class(level == "warning", "-warning")
        widget.display = bool(text)

    def show(self, session: Session, sample: Sample | None, history: Sequence[Sample]) -> None:
        if not self.query("#device-note"):
            # A sample can arrive while the box is still composing (or being removed when the
            # panel is rebuilt): its lines are not there yet; the next sample shows them.
            return
        note = device_note(session, sample)
        self._line("device-note", note, "warning" if note else None)
        for lines in self.query(MemoryLines):
            lines.set_data(session, sample, history)
        self._line("allocator", allocator_text(session.allocator.wire) if session.allocator
                   else "allocator: N/A (no model loaded)")
        self._line("guard-levels", guard_levels_text(session.levels, session.auto_resume))
        guard = session.guard_line
        if session.engine != "loading" and session.guard_mode == "running":
            guard = Line("guard: watches the next load")  # it acts only while a load runs
        self._line("guard-state", guard.text, guard.level)
        exited = session.exited
        if exited is not None and not exited.expected:
            last = [line for line in exited.last_lines if line.strip()][-3:]
            self._line("death", f"engine {exit_how(exited)}; last output: "
                       + (" | ".join(last) if last else "(none)"), "error")
        else:
            self._line("death", "")
        rtt = session.ping_rtt_s
        self._line("ping", "ping: N/A" if rtt is None else f"ping: {rtt * 1000:.1f} ms")
