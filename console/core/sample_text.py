"""A telemetry `Sample` as text: the readable table, one line per sample, and JSON.

Pure: what `autoglm-console monitor` prints and what a bundle quotes, from one place.
"""

from __future__ import annotations

import json
import time

from console.core.sample import GpuSample, Sample
from console.core.units import NA_TEXT, fmt_bytes, fmt_num, fmt_pct, fmt_rate


def to_json(sample: Sample) -> str:
    return json.dumps(sample.to_json_dict(), separators=(",", ":"))


def _gpu_line(g: GpuSample) -> str:
    mem = f"{fmt_bytes(g.memory_used_bytes)} / {fmt_bytes(g.memory_total_bytes)}"
    frac = g.memory_used_fraction
    watts = f"{fmt_num(g.power_draw_w, ' W')} / {fmt_num(g.power_limit_w, ' W')}"
    return (
        f"GPU {g.index}  {g.name or NA_TEXT}  mem {mem} "
        f"({fmt_pct(None if frac is None else frac * 100)})"
        f"  reserved {fmt_bytes(g.memory_reserved_bytes)}  util {fmt_pct(g.utilization_gpu_pct)}"
        f"  mem-util {fmt_pct(g.utilization_memory_pct)}  {fmt_num(g.temperature_c, ' C')}"
        f"  {watts}  SM {fmt_num(g.sm_clock_mhz, ' MHz')}"
    )


def format_sample(s: Sample) -> str:
    """A compact readable table of one sample."""
    h = s.host
    lines = [
        "autoglm-console monitor  "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(s.timestamp))}"
        "  (sample took "
        f"{fmt_num(None if s.sample_cost_s is None else s.sample_cost_s * 1000, ' ms', 1)})",
    ]
    st = s.nvml
    versions = "  ".join(
        f"{k} {v}" for k, v in (("driver", st.driver_version), ("CUDA",
                                                                st.cuda_driver_version)) if v
    )
    lines.append(f"NVML: {st.state}  {st.message}  {versions}".rstrip())
    for g in s.gpus:
        lines.append(_gpu_line(g))
        lines.append(f"  {g.uuid or NA_TEXT}")
        for p in sorted(g.processes, key=lambda p: -(p.gpu_memory_bytes or 0)):
            lines.append(
                f"  pid {p.pid:<8} {p.user or NA_TEXT:<12} {p.name or NA_TEXT:<20} "
                f"{fmt_bytes(p.gpu_memory_bytes):>10}  {p.kind}"
            )
    cores = " ".join(f"{c:.0f}" for c in h.cpu_percent_per_core) or NA_TEXT
    load = " ".join(f"{x:.2f}" for x in h.load_average) if h.load_average else NA_TEXT
    ram_frac = h.ram_used_fraction
    lines += [
        f"CPU  {fmt_pct(h.cpu_percent)}  per core: {cores}  load {load}",
        f"RAM  {fmt_bytes(h.ram_used_bytes)} used / {fmt_bytes(h.ram_total_bytes)}"
        f"  available {fmt_bytes(h.ram_available_bytes)}"
        f"  ({fmt_pct(None if ram_frac is None else ram_frac * 100)} not available)",
        f"Swap {fmt_bytes(h.swap_used_bytes)} / {fmt_bytes(h.swap_total_bytes)}"
        f"  in {fmt_rate(h.swap_in_bytes_per_s)}  out {fmt_rate(h.swap_out_bytes_per_s)}",
        f"Disk read {fmt_rate(h.disk_read_bytes_per_s)}",
    ]
    for w in s.watched:
        state = "alive" if w.alive else "gone"
        lines.append(
            f"pid {w.pid} ({state})  RSS {fmt_bytes(w.rss_bytes)}  CPU {fmt_pct(w.cpu_percent)}"
            f"  GPU memory {fmt_bytes(w.gpu_memory_bytes)}"
        )
    return "\n".join(lines) + "\n"


def format_line(s: Sample) -> str:
    """One line per sample for the streaming mode."""
    h = s.host
    ram_frac = h.ram_used_fraction
    parts = [
        time.strftime("%H:%M:%S", time.localtime(s.timestamp)),
        f"cpu {fmt_pct(h.cpu_percent)}",
        f"ram {fmt_pct(None if ram_frac is None else ram_frac * 100)}",
        f"swap {fmt_bytes(h.swap_used_bytes)} in {fmt_rate(h.swap_in_bytes_per_s)}"
        f" out {fmt_rate(h.swap_out_bytes_per_s)}",
        f"disk-read {fmt_rate(h.disk_read_bytes_per_s)}",
    ]
    if not s.gpus:
        parts.append(f"gpu: {s.nvml.message or s.nvml.state}")
    for g in s.gpus:
        parts.append(
            f"gpu{g.index} {fmt_bytes(g.memory_used_bytes)}/{fmt_bytes(g.memory_total_bytes)}"
            f" util {fmt_pct(g.utilization_gpu_pct)} {fmt_num(g.temperature_c, 'C')}"
            f" {fmt_num(g.power_draw_w, 'W')}"
        )
    for w in s.watched:
        parts.append(
            f"pid{w.pid} {'rss ' + fmt_bytes(w.rss_bytes) if w.alive else 'gone'}"
            f" cpu {fmt_pct(w.cpu_percent)}"
        )
    return "  ".join(parts)
