"""The Dashboard tab: GPU panels and the host panel (side by side when wide), GPU processes.

It renders only from the Sample (and History) it is given; it never calls the sampler.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container, Vertical

from console.core.sample import History, Sample
from console.host.config import Levels
from widgets.gpu_area import GpuArea
from widgets.gpu_processes import GpuProcessTable
from widgets.host_panel import HostPanel


class Dashboard(Vertical):
    DEFAULT_CSS = """
    Dashboard { height: 1fr; }
    Dashboard > #pressure { height: auto; layout: vertical; }
    Dashboard > #processes.-hidden { display: none; }
    """

    def __init__(self, thresholds: dict[str, Levels], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.gpu_area = GpuArea(thresholds, id="gpus")
        self.host_panel = HostPanel(thresholds, id="host")
        self.processes = GpuProcessTable(id="processes")

    def compose(self) -> ComposeResult:
        with Container(id="pressure"):
            yield self.gpu_area
            yield self.host_panel
        yield self.processes

    def show(self, sample: Sample, history: History, window: int | None) -> None:
        self.gpu_area.show(sample, history, window)
        self.host_panel.show(sample, history, window)
        self.processes.set_class(not sample.gpus, "-hidden")
        self.processes.show(sample)
