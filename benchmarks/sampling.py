#!/usr/bin/env python3
"""Per-tick telemetry sampling cost on this machine: NVML part, psutil part, total.

    python3 benchmarks/sampling.py [--ticks 500] [--gap-ms 5] [--pid PID ...] [--recording FILE]

Builds one `Telemetry` (the real driver, or none: then the NVML part is "N/A"), primes it,
then takes `--ticks` samples `--gap-ms` apart and prints mean / p50 / p99 per part, plus the
cost of each NVML function. `--recording` replays a recorded driver instead (measures our
code around NVML, not the driver).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.host.nvml import RecordedNvml, RecordingNvml
from console.host.telemetry import Telemetry


def stats_us(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return ("N/A", "N/A", "N/A")
    us = sorted(v * 1e6 for v in values)

    def p(q: float) -> float:
        return us[min(len(us) - 1, int(q * len(us)))]

    return f"{statistics.fmean(us):.1f}", f"{p(0.5):.1f}", f"{p(0.99):.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--gap-ms", type=float, default=5.0)
    ap.add_argument("--pid", type=int, action="append", default=[])
    ap.add_argument("--recording", type=Path)
    args = ap.parse_args()

    if args.recording:
        inner = RecordedNvml(args.recording)
    else:
        import pynvml

        inner = pynvml
    telemetry = Telemetry(nvml=inner)
    for pid in args.pid:
        telemetry.watch(pid)
    first = telemetry.sample()
    total, nvml, host = [], [], []
    for _ in range(args.ticks):
        time.sleep(args.gap_ms / 1000)
        sample = telemetry.sample()
        total.append(sample.sample_cost_s or 0.0)
        nvml.append(telemetry.last_nvml_cost_s or 0.0)
        host.append(telemetry.last_host_cost_s or 0.0)
    # A second pass through a recorder, which times each NVML function (its own bookkeeping
    # would inflate the per-tick figures above, so it is kept apart).
    recorder = RecordingNvml(inner)
    per_function = Telemetry(nvml=recorder)
    per_function.sample()
    recorder.costs_s.clear()
    for _ in range(min(args.ticks, 100)):
        per_function.sample()
    telemetry.close()

    has_gpu = telemetry.status.state not in ("no_driver",) and bool(sample.gpus)
    print(f"sampling cost per tick over {args.ticks} ticks, {args.gap_ms:g} ms apart")
    print(f"NVML: {telemetry.status.state} ({telemetry.status.message}); GPUs {len(sample.gpus)}, "
          f"GPU processes {sum(len(g.processes) for g in sample.gpus)}; watched pids "
          f"{len(args.pid)}"
          + (f"; replaying {args.recording}" if args.recording else ""))
    print(f"first sample (NVML init included): {(first.sample_cost_s or 0) * 1e3:.1f} ms")
    print()
    print(f"{'part':<22}{'mean us':>10}{'p50 us':>10}{'p99 us':>10}")
    rows = [("NVML", stats_us(nvml) if has_gpu else ("N/A",) * 3),
            ("psutil (host+pids)", stats_us(host)),
            ("total", stats_us(total))]
    for name, (mean, p50, p99) in rows:
        print(f"{name:<22}{mean:>10}{p50:>10}{p99:>10}")
    if has_gpu:
        print()
        print(f"{'NVML function':<44}{'calls':>7}{'mean us':>10}{'p50 us':>10}{'p99 us':>10}")
        for fn, costs in sorted(recorder.costs_s.items(), key=lambda kv: -sum(kv[1])):
            mean, p50, p99 = stats_us(costs)
            print(f"{fn:<44}{len(costs):>7}{mean:>10}{p50:>10}{p99:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
