"""The top line: title, host, NVML/driver state, sampling interval, time of the last sample.

Problems (NVML version mismatch, GPU lost, a sampler that stopped answering) show here in
the error colour for as long as they last; the app also notifies them once.
"""

from __future__ import annotations

import time

from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from console.core.sample import NvmlStatus, Sample
from widgets.lines import strip_of

# NVML states that are a problem (no_driver is a normal mode: CPU-only).
PROBLEM_STATES = ("version_mismatch", "gpu_lost", "error")


def nvml_text(status: NvmlStatus) -> str:
    if status.ok:
        parts = []
        if status.driver_version:
            parts.append(f"driver {status.driver_version}")
        if status.cuda_driver_version:
            parts.append(f"CUDA {status.cuda_driver_version}")
        return " · ".join(parts) or "NVML ok"
    if status.state == "no_driver":
        return "CPU-only (no NVIDIA driver)"
    label = {"version_mismatch": "NVML version mismatch", "gpu_lost": "GPU lost"}.get(
        status.state, f"NVML {status.state}")
    return f"{label}: {status.message}" if status.message else label


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; }
    StatusBar.-problem { background: $error 40%; }
    """

    # (status, interval and time, problem?) set together: one change, one refresh.
    line: reactive[tuple[str, str, bool]] = reactive(("starting…", "", False))

    def __init__(self, title: str, hostname: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.hostname = hostname
        self.line = ("waiting for the first sample…", "", False)

    def show(self, sample: Sample | None, interval_s: float, stale_for_s: float | None) -> None:
        """`stale_for_s`: seconds since the last sample when overdue (the sampler is stuck)."""
        problem = False
        when = ""
        if sample is None:
            status = "waiting for the first sample…"
        else:
            status = nvml_text(sample.nvml)
            problem = sample.nvml.state in PROBLEM_STATES
            when = (f"{interval_s:g} s · "
                    f"{time.strftime('%H:%M:%S', time.localtime(sample.timestamp))}")
        if stale_for_s is not None:
            when = f"no sample for {stale_for_s:.0f} s (sampler busy)"
            problem = True
        self.line = (status, when, problem)

    def watch_line(self, line: tuple[str, str, bool]) -> None:
        self.set_class(line[2], "-problem")

    def render_line(self, y: int) -> Strip:
        """` title · host  status ... every 1 s · time `: the status is cut first."""
        width = self.size.width
        if y != 0:
            return Strip.blank(width, self.rich_style)
        status, when, _ = self.line
        room = max(0, width - 2)  # a space at each end
        left = self.title + (f" · {self.hostname}" if self.hostname else "") + f"  {status}"
        right = f"  {when}" if when else ""
        if when[:1].isdigit() and len(left) + len(right) + 6 <= room:
            right = f"  every {when}"  # room for the longer form
        if len(left) + len(right) > room:
            left = left[: max(0, room - len(right) - 1)] + "…"
        gap = " " * max(0, room - len(left) - len(right))
        title = self.title if left.startswith(self.title) else ""
        return strip_of([(" ", None), (title, Style(bold=True)), (left[len(title):], None),
                         (gap + right + " ", None)], width, self.rich_style)

    def render_text(self) -> str:
        """The line as plain text (for tests and logs)."""
        return self.render_line(0).text
