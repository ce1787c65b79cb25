"""Fixed telemetry for UI tests: hand-built Samples (this machine has no GPU) and samplers.

`h100_sequence()` is a 1-GPU H100-like box with 2 processes while a model loads (VRAM ramps
up, swap-in spikes once); `cpu_only_sequence()` is a box with no NVIDIA driver. Values are
formulas of the step number, so every run sees the same numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from console.core.sample import GpuProcessSample, GpuSample, HostSample, NvmlStatus, Sample

GIB = 1024**3
MIB = 1024**2
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: the frozen clock's epoch
STEPS = 60


def host_at(step: int, cores: int = 16) -> HostSample:
    wave = (step * 7) % 23
    return HostSample(
        cpu_percent=20.0 + 2.0 * wave,
        cpu_percent_per_core=tuple(float((step * 13 + core * 29) % 101) for core in range(cores)),
        load_average=(3.25, 2.5, 1.75),
        ram_total_bytes=256 * GIB,
        ram_available_bytes=(200 - step) * GIB,
        ram_used_bytes=(50 + step) * GIB,
        swap_total_bytes=8 * GIB,
        swap_used_bytes=512 * MIB,
        swap_in_bytes_per_s=(64.0 * MIB if 40 <= step < 44 else 0.0),
        swap_out_bytes_per_s=(16.0 * MIB if 40 <= step < 44 else 0.0),
        disk_read_bytes_per_s=float(step * 20 * MIB),
    )


def h100_at(step: int, *, vram_used_bytes: int | None = None,
            temperature_c: float | None = 64.0) -> Sample:
    """Step `step` of the H100 load: VRAM from 1 GiB up to 61 GiB of 80 GiB."""
    used = vram_used_bytes if vram_used_bytes is not None else (1 * GIB + step * GIB)
    engine_bytes = max(0, used - 1 * GIB)
    processes = (
        GpuProcessSample(0, 48213, "alice", "autoglm-engine", engine_bytes, "compute"),
        GpuProcessSample(0, 2210, "root", "Xorg", 4 * MIB, "graphics"),
    )
    gpu = GpuSample(
        index=0, name="NVIDIA H100 80GB HBM3", uuid="GPU-5f2c9a1e-0000-4000-8000-000000000000",
        memory_total_bytes=80 * GIB, memory_used_bytes=used, memory_reserved_bytes=512 * MIB,
        utilization_gpu_pct=float(min(100, step * 2)), utilization_memory_pct=30.0,
        temperature_c=temperature_c, power_draw_w=120.0 + step * 5, power_limit_w=700.0,
        sm_clock_mhz=1980, processes=processes,
    )
    return Sample(
        timestamp=T0 + step, monotonic=1000.0 + step,
        nvml=NvmlStatus("ok", driver_version="580.159.04", nvml_version="13.580.159.04",
                        cuda_driver_version="13.0"),
        gpus=(gpu,), host=host_at(step), sample_cost_s=0.0006,
    )


def cpu_only_at(step: int) -> Sample:
    return Sample(
        timestamp=T0 + step, monotonic=1000.0 + step,
        nvml=NvmlStatus("no_driver", message="NVML Shared Library Not Found"),
        gpus=(), host=replace(host_at(step, cores=2), ram_total_bytes=24 * GIB,
                              ram_available_bytes=(20 - step // 6) * GIB,
                              swap_total_bytes=0, swap_used_bytes=0, swap_in_bytes_per_s=0.0,
                              swap_out_bytes_per_s=0.0),
        sample_cost_s=0.0004,
    )


def h100_sequence(steps: int = STEPS) -> list[Sample]:
    return [h100_at(step) for step in range(steps)]


def cpu_only_sequence(steps: int = STEPS) -> list[Sample]:
    return [cpu_only_at(step) for step in range(steps)]


class FixedSampler:
    """Yields the given samples in order, then keeps repeating the last one."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = list(samples)
        self.calls = 0

    def sample(self) -> Sample:
        sample = self.samples[min(self.calls, len(self.samples) - 1)]
        self.calls += 1
        return sample


class FeedSampler:
    """Each sample() blocks until the test feeds one (or the sampler is released).

    With it a test decides exactly when a sample arrives, and can hold the sampler thread
    inside a "driver call" for as long as it likes (the slow-NVML case).
    """

    def __init__(self, first: Sample) -> None:
        self._next: list[Sample] = [first]
        self._ready = threading.Condition()
        self.released = False
        self.last = first
        self.max_block_s = 20.0
        self.blocked = threading.Event()  # set while a sample() call waits for a feed

    def feed(self, sample: Sample) -> None:
        with self._ready:
            self._next.append(sample)
            self._ready.notify_all()

    def release(self) -> None:
        """Stop blocking (so the app can exit): sample() returns the last sample at once."""
        with self._ready:
            self.released = True
            self._ready.notify_all()

    def sample(self) -> Sample:
        with self._ready:
            # Bounded, so a failing test cannot leave a thread blocked forever.
            if not self._next:
                self.blocked.set()
            self._ready.wait_for(lambda: self._next or self.released, timeout=self.max_block_s)
            self.blocked.clear()
            if self._next:
                self.last = self._next.pop(0)
            return self.last


class FrozenClock:
    def __init__(self, now: float = T0 + STEPS - 1) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def multi_gpu_at(step: int, gpus: int = 8) -> Sample:
    """An 8-GPU box: GPU n holds n * 9 GiB, one process each."""
    base = h100_at(step)
    template = base.gpus[0]
    boards = tuple(
        replace(template, index=n, uuid=f"GPU-{n}", memory_used_bytes=(1 + 9 * n) * GIB,
                processes=(GpuProcessSample(n, 50000 + n, "alice", f"rank{n}", 9 * n * GIB,
                                            "compute"),))
        for n in range(gpus)
    )
    return replace(base, gpus=boards)
