"""One GPU: VRAM bar + sparkline, utilisation, temperature, power, SM clock."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from console.core.sample import GpuSample, History, Sample
from console.core.units import GIB, NA_TEXT, fmt_bytes, fmt_num, fmt_pct
from console.host.config import Levels
from widgets.meter import Meter
from widgets.reading import Reading
from widgets.spark import Spark


def gpu_in(sample: Sample, index: int) -> GpuSample | None:
    for gpu in sample.gpus:
        if gpu.index == index:
            return gpu
    return None


def vram_used_pct(gpu: GpuSample | None) -> float | None:
    fraction = gpu.memory_used_fraction if gpu is not None else None
    return None if fraction is None else 100.0 * fraction


def vram_detail(gpu: GpuSample) -> str:
    used, total = gpu.memory_used_bytes, gpu.memory_total_bytes
    pct = fmt_pct(vram_used_pct(gpu))
    if used is None or total is None:
        return f"{fmt_bytes(used)} / {fmt_bytes(total)} {pct}"
    return f"{used / GIB:.1f} / {total / GIB:.1f} GiB {pct:>4}"


def power_text(gpu: GpuSample) -> str:
    if gpu.power_draw_w is None:
        return NA_TEXT
    if gpu.power_limit_w is None:
        return f"{gpu.power_draw_w:.0f} W"
    return f"{gpu.power_draw_w:.0f} / {gpu.power_limit_w:.0f} W"


class GpuPanel(Vertical):
    """One GPU. `compact` (many GPUs): one line, `GPU n` as the bar's label, utilisation and
    temperature folded into the bar's text, no title rule and no readings row."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; border-top: solid $primary-darken-1; border-title-color: $text; }
    GpuPanel > Horizontal { height: 1; }
    GpuPanel.-compact { border: none; padding: 0; }
    GpuPanel.-compact > .readings, GpuPanel.-compact > .vram-graph { display: none; }
    /* The taller VRAM history graph: shown instead of the inline sparkline where there is
       room (app.tcss turns it on for wide, tall screens with few GPUs). */
    GpuPanel > .vram-graph { display: none; height: 3; width: 1fr; max-width: 100%; margin: 0; }
    """

    def __init__(self, index: int, thresholds: dict[str, Levels]) -> None:
        super().__init__(id=f"gpu-{index}", classes="gpu-panel")
        self.gpu_index = index
        self.thresholds = thresholds
        self.vram = Meter("VRAM", classes="vram")
        self.vram_spark = Spark(thresholds["vram"], classes="vram-spark")
        self.vram_graph = Spark(thresholds["vram"], classes="vram-graph")
        self.util = Reading("util", classes="util")
        self.temperature = Reading("temp", classes="temperature")
        self.power = Reading("power", classes="power")
        self.clock = Reading("SM", classes="sm-clock")
        self.reserved = Reading("reserved", classes="reserved")
        self.border_title = f"GPU {index}"
        self.compact = False

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield self.vram
            yield self.vram_spark
        with Horizontal(classes="readings"):
            yield self.util
            yield self.temperature
            yield self.power
            yield self.clock
            yield self.reserved
        yield self.vram_graph

    def show(self, gpu: GpuSample, history: History, window: int | None,
             compact: bool = False) -> None:
        index = self.gpu_index
        title = f"GPU {index} · {gpu.name or 'unknown GPU'}"
        if self.border_title != title:
            self.border_title = title
        if compact != self.compact:
            self.compact = compact
            self.set_class(compact, "-compact")
            self.vram.label = f"GPU{index}" if compact else "VRAM"
            self.vram.refresh()
        pct = vram_used_pct(gpu)
        detail = vram_detail(gpu)
        if compact:
            detail += (f" · {fmt_pct(gpu.utilization_gpu_pct)}"
                       f" · {fmt_num(gpu.temperature_c, '°C')}")
        self.vram.show(gpu.memory_used_fraction, detail, self.thresholds["vram"].colour(pct))
        vram_series = history.series(lambda s: vram_used_pct(gpu_in(s, index)))
        self.vram_spark.show(vram_series, 100.0, window)
        self.vram_graph.show(vram_series, 100.0, window)
        self.util.show(fmt_pct(gpu.utilization_gpu_pct),
                       "na" if gpu.utilization_gpu_pct is None else "ok")
        temp = gpu.temperature_c
        self.temperature.show(fmt_num(temp, "°C"), self.thresholds["temperature"].colour(temp))
        self.power.show(power_text(gpu), "na" if gpu.power_draw_w is None else "ok")
        self.clock.show(fmt_num(gpu.sm_clock_mhz, " MHz"),
                        "na" if gpu.sm_clock_mhz is None else "ok")
        self.reserved.show(fmt_bytes(gpu.memory_reserved_bytes),
                           "na" if gpu.memory_reserved_bytes is None else "ok")
