"""The GPU column: one GpuPanel per GPU, or the CPU-only notice when there is no driver."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.core.sample import History, Sample
from console.host.config import Levels
from widgets.gpu_panel import GpuPanel

NO_GPU_TEXT = "no NVIDIA GPU / driver: CPU-only"
FEW_GPUS = 2  # up to this many GPUs, a tall screen gives each a VRAM history graph


class GpuArea(VerticalScroll):
    """Scrolls (and takes the focus, for the arrow keys) when the GPUs do not fit. With more
    than FEW_GPUS GPUs each takes one line under one "GPUs" rule."""

    DEFAULT_CSS = """
    GpuArea { height: auto; max-height: 60%; }
    GpuArea.-many { border-top: solid $primary-darken-1; border-title-color: $text; }
    GpuArea > .no-gpu { height: 1; color: $text-muted; text-wrap: nowrap;
                        text-overflow: ellipsis; }
    GpuArea > .no-gpu.-hidden { display: none; }
    """

    def __init__(self, thresholds: dict[str, Levels], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.thresholds = thresholds
        self.notice = Static("", classes="no-gpu -hidden", markup=False)
        self.notice.border_title = "GPU"
        self.panels: dict[int, GpuPanel] = {}
        self._notice_text = ""

    def compose(self) -> ComposeResult:
        yield self.notice

    def show(self, sample: Sample, history: History, window: int | None) -> None:
        if not sample.gpus:
            if sample.nvml.state == "no_driver":
                text = NO_GPU_TEXT
            elif sample.nvml.ok:
                text = "no NVIDIA GPU found by the driver"
            else:
                text = f"GPU telemetry unavailable ({sample.nvml.state})"
            message = sample.nvml.message
            # One line: a box without a GPU has nothing else to show here.
            detail = f" ({message})" if message and message != text else ""
            text = f"GPU: {text}"
            if self._notice_text != text + detail:
                self._notice_text = text + detail
                self.notice.update(self._notice_text)
            self.notice.remove_class("-hidden")
        else:
            self.notice.add_class("-hidden")
        many = len(sample.gpus) > FEW_GPUS
        self.set_class(not many, "-few")
        self.set_class(many, "-many")
        title = f"GPUs ({len(sample.gpus)})" if many else None
        if self.border_title != title:
            self.border_title = title  # (setting it repaints the whole column)
        wanted = [gpu.index for gpu in sample.gpus]
        if wanted != list(self.panels):
            # The set of GPUs changed (first sample, a GPU lost or back): rebuild in order.
            for panel in self.panels.values():
                panel.remove()
            self.panels = {index: GpuPanel(index, self.thresholds) for index in wanted}
            self.mount_all(self.panels.values())
        for gpu in sample.gpus:
            self.panels[gpu.index].show(gpu, history, window, compact=many)
