"""Frozen telemetry snapshots: one `Sample` per tick, built off the UI thread.

Unknown values are `None` (shown as "N/A" at the edge); bytes stay ints here and are
formatted only when displayed. Nothing in this module does I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class GpuProcessSample:
    gpu_index: int
    pid: int
    user: str | None
    name: str | None
    gpu_memory_bytes: int | None
    kind: str  # "compute" | "graphics"


@dataclass(frozen=True, slots=True)
class GpuSample:
    index: int
    name: str | None
    uuid: str | None
    memory_total_bytes: int | None
    memory_used_bytes: int | None
    memory_reserved_bytes: int | None  # driver-reserved (NVML v2 memory info); None with v1
    utilization_gpu_pct: float | None
    utilization_memory_pct: float | None
    temperature_c: float | None
    power_draw_w: float | None
    power_limit_w: float | None
    sm_clock_mhz: int | None
    processes: tuple[GpuProcessSample, ...] = ()

    @property
    def memory_used_fraction(self) -> float | None:
        if not self.memory_total_bytes or self.memory_used_bytes is None:
            return None
        return self.memory_used_bytes / self.memory_total_bytes


@dataclass(frozen=True, slots=True)
class ProcSample:
    """A watched process (the engine, later): RSS and CPU."""

    pid: int
    alive: bool
    rss_bytes: int | None
    cpu_percent: float | None
    gpu_memory_bytes: int | None = None  # summed over GPUs from NVML's process list


@dataclass(frozen=True, slots=True)
class HostSample:
    cpu_percent: float | None
    cpu_percent_per_core: tuple[float, ...]
    load_average: tuple[float, float, float] | None
    ram_total_bytes: int | None
    ram_available_bytes: int | None
    ram_used_bytes: int | None
    swap_total_bytes: int | None
    swap_used_bytes: int | None
    swap_in_bytes_per_s: float | None  # None on the first sample (needs two)
    swap_out_bytes_per_s: float | None
    disk_read_bytes_per_s: float | None

    @property
    def ram_used_fraction(self) -> float | None:
        if not self.ram_total_bytes or self.ram_available_bytes is None:
            return None
        return 1.0 - self.ram_available_bytes / self.ram_total_bytes

    @property
    def swap_used_fraction(self) -> float | None:
        if not self.swap_total_bytes or self.swap_used_bytes is None:
            return None
        return self.swap_used_bytes / self.swap_total_bytes


@dataclass(frozen=True, slots=True)
class NvmlStatus:
    """How the GPU side stands: "starting" (before the first sample), "ok", "no_driver",
    "version_mismatch", "gpu_lost", "error" (see docs/monitor.md)."""

    state: str
    message: str = ""
    driver_version: str | None = None
    nvml_version: str | None = None
    cuda_driver_version: str | None = None  # e.g. "13.0"

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True, slots=True)
class Sample:
    timestamp: float  # wall clock, seconds since the epoch
    monotonic: float  # for rates and history
    nvml: NvmlStatus
    gpus: tuple[GpuSample, ...]
    host: HostSample
    watched: tuple[ProcSample, ...] = ()
    sample_cost_s: float | None = None  # how long building this sample took

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        return data


@dataclass
class History:
    """A bounded ring of samples for the sparklines (default: 10 minutes at the interval)."""

    maxlen: int
    _samples: deque[Sample] = field(init=False)

    def __post_init__(self) -> None:
        if self.maxlen < 1:
            raise ValueError("history length must be at least 1")
        self._samples = deque(maxlen=self.maxlen)

    @classmethod
    def for_interval(cls, interval_s: float, seconds: float = 600.0) -> History:
        return cls(maxlen=int(seconds / interval_s) + 1)

    def append(self, sample: Sample) -> None:
        self._samples.append(sample)

    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples)

    @property
    def latest(self) -> Sample | None:
        return self._samples[-1] if self._samples else None

    def series(self, key: Any, last: int | None = None) -> list[float]:
        """Values of `key(sample)` over the history, `None` values dropped, oldest first."""
        samples = list(self._samples)[-last:] if last else list(self._samples)
        out: list[float] = []
        for s in samples:
            v = key(s)
            if v is not None:
                out.append(float(v))
        return out
