"""The host: CPU (total, per core, load), RAM, swap (used and in/out activity), disk reads."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from console.core.sample import History, HostSample, Sample
from console.core.units import MIB, NA_TEXT, fmt_bytes, fmt_pct, fmt_rate
from console.host.config import Levels
from widgets.core_bars import CoreBars
from widgets.meter import Meter
from widgets.reading import Reading
from widgets.spark import Spark


def pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def mib_per_s(bytes_per_s: float | None) -> float | None:
    return None if bytes_per_s is None else bytes_per_s / MIB


def ram_detail(host: HostSample) -> str:
    total, available = host.ram_total_bytes, host.ram_available_bytes
    used = None if total is None or available is None else total - available
    return f"{fmt_pct(pct(host.ram_used_fraction)):>4} {fmt_bytes(used)} / {fmt_bytes(total)}"


def swap_detail(host: HostSample) -> str:
    if host.swap_total_bytes == 0:
        return "no swap configured"
    return (f"{fmt_pct(pct(host.swap_used_fraction)):>4} "
            f"{fmt_bytes(host.swap_used_bytes)} / {fmt_bytes(host.swap_total_bytes)}")


def load_text(host: HostSample) -> str:
    if host.load_average is None:
        return NA_TEXT
    return " ".join(f"{v:.2f}" for v in host.load_average)


class HostPanel(Vertical):
    DEFAULT_CSS = """
    HostPanel { height: auto; border-top: solid $primary-darken-1; border-title-color: $text; }
    HostPanel > Horizontal { height: 1; }
    """

    def __init__(self, thresholds: dict[str, Levels], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.thresholds = thresholds
        self.cpu = Meter("CPU", classes="cpu")
        self.cpu_spark = Spark(thresholds["cpu"], classes="cpu-spark")
        self.cores = CoreBars(thresholds["cpu"], classes="cores")
        self.load = Reading("load", classes="load")
        self.ram = Meter("RAM", classes="ram")
        self.ram_spark = Spark(thresholds["ram"], classes="ram-spark")
        self.swap = Meter("Swap", classes="swap")
        self.swap_in_spark = Spark(thresholds["swap_in"], classes="swap-in-spark")
        self.swap_in = Reading("swap in", classes="swap-in")
        self.swap_out = Reading("out", classes="swap-out")
        self.disk_read = Reading("disk read", classes="disk-read")
        self.border_title = "host"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield self.cpu
            yield self.cpu_spark
        with Horizontal():
            yield self.cores
            yield self.load
        with Horizontal():
            yield self.ram
            yield self.ram_spark
        with Horizontal():
            yield self.swap
            yield self.swap_in_spark
        with Horizontal(classes="rates"):
            yield self.swap_in
            yield self.swap_out
            yield self.disk_read

    def show(self, sample: Sample, history: History, window: int | None) -> None:
        host = sample.host
        th = self.thresholds
        cores = len(host.cpu_percent_per_core)
        title = f"host · {cores} cores" if cores else "host"
        if self.border_title != title:
            self.border_title = title

        cpu_fraction = None if host.cpu_percent is None else host.cpu_percent / 100.0
        self.cpu.show(cpu_fraction,
                      f"{fmt_pct(host.cpu_percent):>4}", th["cpu"].colour(host.cpu_percent))
        self.cpu_spark.show(history.series(lambda s: s.host.cpu_percent), 100.0, window)
        self.cores.per_core_pct = tuple(host.cpu_percent_per_core)
        self.load.show(load_text(host), "na" if host.load_average is None else "ok")

        ram_pct = pct(host.ram_used_fraction)
        self.ram.show(host.ram_used_fraction, ram_detail(host), th["ram"].colour(ram_pct))
        self.ram_spark.show(history.series(lambda s: pct(s.host.ram_used_fraction)), 100.0, window)

        swap_pct = pct(host.swap_used_fraction)
        self.swap.show(host.swap_used_fraction, swap_detail(host), th["swap"].colour(swap_pct))
        # Swap-in is where thrashing shows: scale to at least the pause level so noise stays low.
        swap_in_series = history.series(lambda s: mib_per_s(s.host.swap_in_bytes_per_s))
        self.swap_in_spark.show(swap_in_series, max([th["swap_in"].pause, *swap_in_series]), window)
        swap_in = mib_per_s(host.swap_in_bytes_per_s)
        self.swap_in.show(fmt_rate(host.swap_in_bytes_per_s), th["swap_in"].colour(swap_in))
        self.swap_out.show(fmt_rate(host.swap_out_bytes_per_s),
                           "na" if host.swap_out_bytes_per_s is None else "ok")
        self.disk_read.show(fmt_rate(host.disk_read_bytes_per_s),
                            "na" if host.disk_read_bytes_per_s is None else "ok")
