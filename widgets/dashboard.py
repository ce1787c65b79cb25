"""The Dashboard tab: GPU panels and the host panel (side by side when wide), GPU processes,
and the engine's own process row (PID, RSS, CPU%, VRAM), which matters most on a CPU-only box.

It renders only from the Sample (and History) it is given; it never calls the sampler.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import Static

from console.core.sample import History, Sample
from console.core.units import fmt_bytes
from console.host.config import Levels
from widgets.gpu_area import GpuArea
from widgets.gpu_processes import GpuProcessTable
from widgets.host_panel import HostPanel


class Dashboard(Vertical):
    DEFAULT_CSS = """
    Dashboard { height: 1fr; }
    Dashboard > #pressure { height: auto; layout: vertical; }
    Dashboard > #processes.-hidden { display: none; }
    Dashboard > #processes.-empty { height: 4; }
    Dashboard > #engine-procs { height: auto; border-top: solid $primary-darken-1;
                                border-title-color: $text; }
    """

    def __init__(self, thresholds: dict[str, Levels], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.gpu_area = GpuArea(thresholds, id="gpus")
        self.host_panel = HostPanel(thresholds, id="host")
        self.processes = GpuProcessTable(id="processes")
        self.engine_procs = Static("engine: not running", id="engine-procs", markup=False)
        self.engine_procs.border_title = "engine process"
        self._engine_text = ""

    def compose(self) -> ComposeResult:
        with Container(id="pressure"):
            yield self.gpu_area
            yield self.host_panel
        yield self.engine_procs
        yield self.processes

    def show(self, sample: Sample, history: History, window: int | None) -> None:
        self.gpu_area.show(sample, history, window)
        self.host_panel.show(sample, history, window)
        self.processes.set_class(not sample.gpus, "-hidden")
        self.processes.set_class(bool(sample.gpus) and not any(g.processes for g in sample.gpus),
                                 "-empty")
        self.processes.show(sample)
        text = engine_rows_text(sample)
        if text != self._engine_text:
            # A new figure in the same rows (every tick while an engine runs): no layout pass.
            same_rows = text.count("\n") == self._engine_text.count("\n")
            self._engine_text = text
            self.engine_procs.update(text, layout=not same_rows)


def engine_rows_text(sample: Sample) -> str:
    """The watched (engine) processes as a small table; one line when there is none."""
    rows = [p for p in sample.watched if p.alive]
    if not rows:
        return "engine: not running (it starts with the console, or with the first load)"
    lines = [f"{'PID':>8}  {'RSS':>10}  {'CPU%':>6}  {'VRAM':>10}"]
    for p in rows:
        cpu = "N/A" if p.cpu_percent is None else f"{p.cpu_percent:.0f}"
        vram = fmt_bytes(p.gpu_memory_bytes) if sample.gpus else "-"
        lines.append(f"{p.pid:>8}  {fmt_bytes(p.rss_bytes):>10}  {cpu:>6}  {vram:>10}")
    return "\n".join(lines)
