"""Telemetry: NVML (per GPU) and psutil (host) read into one frozen `Sample` per tick.

`Telemetry.sample()` never raises. Every NVML call goes through `Telemetry._call`, which turns
a failure into `None` ("N/A" at the edge), counts it, and reports the failures that mean
something once: no driver (a normal CPU-only mode), a driver/NVML version mismatch, a lost GPU.
The app samples on a worker thread (console.app); `watch`, `unwatch` and `status` never wait
for a sample in flight, so a slow NVML call never blocks the UI thread.
No textual, no torch here (import-linter and tests/unit/test_boundaries.py enforce it).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psutil

from console.core.sample import (
    GpuProcessSample,
    GpuSample,
    HostSample,
    NvmlStatus,
    ProcSample,
    Sample,
)
from console.host.nvml import (
    ERR_ARGUMENT_VERSION_MISMATCH,
    ERR_FUNCTION_NOT_FOUND,
    ERR_GPU_IS_LOST,
    ERR_INVALID_ARGUMENT,
    ERR_NOT_SUPPORTED,
    LIBRARY_MISMATCH,
    NA,
    NO_DRIVER_MESSAGE,
    RECORDING_ENV,
    VALUE_NOT_AVAILABLE,
    Nvml,
    RecordedNvml,
    cuda_version_text,
    text,
)

__all__ = ["NO_DRIVER_MESSAGE", "RECORDING_ENV", "RecordedNvml", "Telemetry"]

TEMPERATURE_GPU, CLOCK_SM = 0, 1  # NVML_TEMPERATURE_GPU, NVML_CLOCK_SM
_SEVERITY = ("error", "version_mismatch", "gpu_lost")  # worst last
POWER_LIMIT_REFRESH_S = 10.0  # the limit call costs ~0.2-0.4 ms on an H100 and rarely changes
_NINE_NONES = (None,) * 9  # every GpuSample reading after index, name, uuid: unknown


def _rate(now: float, prev: tuple[float, float] | None, t: float) -> float | None:
    """Per-second rate of a cumulative counter, None without a previous reading or on a reset."""
    if prev is None or t <= prev[0] or now < prev[1]:
        return None
    return (now - prev[1]) / (t - prev[0])


class Telemetry:
    """Builds `Sample`s. `nvml`: a pynvml-like object (tests pass a `RecordedNvml`); None
    imports the real pynvml on the first `sample()` (never in `__init__`, which stays cheap)."""

    def __init__(
        self,
        nvml: Any | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nv = Nvml(nvml)
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()  # one sample at a time
        self._started = False
        self._handles: list[Any] | None = None  # None: no GPU side
        self._names: dict[int, tuple[str | None, str | None]] = {}  # index -> (name, uuid)
        self._memory_v2: dict[int, bool] = {}  # index -> does the v2 memory call work here
        self._lost: set[int] = set()
        self._power_limits: dict[int, tuple[float, Any]] = {}  # index -> (read at, mW)
        self._missing: set[str] = set()  # functions this driver's NVML lacks
        self._problems: dict[str, tuple[str, str]] = {}  # once-only key -> (state, message)
        self._notices: list[str] = []
        self._status = NvmlStatus("starting", "NVML not read yet")
        self._versions: dict[str, str | None] = {}
        self.failures: Counter[str] = self._nv.failures  # NVML function -> failed calls
        self._identity: dict[int, tuple[str | None, str | None]] = {}  # pid -> (user, name)
        self._watched: dict[int, psutil.Process | None] = {}
        self._primed: set[int] = set()  # watched pids whose cpu_percent has a baseline
        self._cpu_primed = False
        self._prev_swap: tuple[float, float, float] | None = None  # (t, sin, sout)
        self._prev_disk: tuple[float, float] | None = None  # (t, read_bytes)
        self.last_nvml_cost_s: float | None = None
        self.last_host_cost_s: float | None = None

    # -- public -------------------------------------------------------------------------

    @property
    def status(self) -> NvmlStatus:
        return self._status

    def take_notices(self) -> list[str]:
        """Messages to show once (version mismatch, GPU lost); each is returned only once."""
        notices, self._notices = self._notices, []
        return notices

    def watch(self, pid: int) -> None:
        self._watched.setdefault(pid, None)

    def unwatch(self, pid: int) -> None:
        self._watched.pop(pid, None)
        self._primed.discard(pid)

    def close(self, timeout_s: float = 1.0) -> None:
        """Shut NVML down. Waits at most `timeout_s` for a sample in flight: a hung driver call
        must not hold up the app's exit (the process ending releases NVML anyway)."""
        if not self._lock.acquire(timeout=timeout_s):
            return
        try:
            if self._handles is not None:
                self._nv.shutdown()
                self._handles = None
        finally:
            self._lock.release()

    def sample(self) -> Sample:
        with self._lock:
            start = time.perf_counter()
            timestamp, now = self._clock(), self._monotonic()
            try:
                host = self._host(now)
            except Exception:  # psutil failing wholesale: keep the sample, mark it unknown
                host = HostSample(None, (), None, None, None, None, None, None, None, None, None)
            host_done = time.perf_counter()
            try:
                gpus = self._gpus()
            except Exception as exc:  # a bug or a broken binding must not take the UI down
                self._problem("error:sample", "error", f"NVML sampling failed: {exc!r}")
                gpus = ()
            nvml_done = time.perf_counter()
            watched = tuple(self._watched_sample(pid, gpus) for pid in list(self._watched))
            self.last_host_cost_s = host_done - start + (time.perf_counter() - nvml_done)
            self.last_nvml_cost_s = nvml_done - host_done
            return Sample(
                timestamp=timestamp,
                monotonic=now,
                nvml=self._status,
                gpus=gpus,
                host=host,
                watched=watched,
                sample_cost_s=time.perf_counter() - start,
            )

    # -- NVML -----------------------------------------------------------------------------

    def _call(self, fn: str, *args: Any, gpu: int | None = None, probe: bool = False,
              **kw: Any) -> Any:
        """Telemetry's way to call NVML (through `Nvml.call`): the answer, or NA on failure.

        `gpu` names the device the call is about (for "GPU n is lost"); `probe` marks a call
        whose failure is expected on some drivers (the v2 memory call) and is not a problem."""
        if (gpu is not None and gpu in self._lost) or fn in self._missing:
            self._nv.last_error = None
            return NA
        answer = self._nv.call(fn, *args, **kw)
        code = self._nv.last_error
        if code == ERR_GPU_IS_LOST and gpu is not None:
            self._lost.add(gpu)
            self._problem(
                f"lost:{gpu}", "gpu_lost",
                f"GPU {gpu} is lost (NVML_ERROR_GPU_IS_LOST in {fn}): it fell off the bus "
                "or needs a reset; its readings show N/A",
            )
        elif code in (ERR_FUNCTION_NOT_FOUND, LIBRARY_MISMATCH) and not probe:
            self._missing.add(fn)  # it will not appear later: stop asking
            self._problem(
                f"mismatch:{fn}", "version_mismatch",
                f"driver/NVML version mismatch: {fn} is missing from this driver's NVML "
                "(update nvidia-ml-py or the driver); fields that need it show N/A",
            )
        return answer

    def _problem(self, key: str, state: str, message: str) -> None:
        """Record a problem once; the status shows the worst state and every message."""
        if key in self._problems:
            return
        self._problems[key] = (state, message)
        self._notices.append(message)
        worst = max((s for s, _ in self._problems.values()), key=_SEVERITY.index)
        joined = "; ".join(m for _, m in self._problems.values())
        self._status = NvmlStatus(worst, joined, **self._versions)

    def _start(self) -> bool:
        """Load and initialise NVML once; False when there is no GPU side."""
        if self._started:
            return self._handles is not None
        self._started = True
        failed = self._nv.start()
        if failed is not None:
            self._status = NvmlStatus(*failed)
            return False
        cuda = self._call("nvmlSystemGetCudaDriverVersion")
        self._versions = {
            "driver_version": text(self._call("nvmlSystemGetDriverVersion")),
            "nvml_version": text(self._call("nvmlSystemGetNVMLVersion")),
            "cuda_driver_version": cuda_version_text(cuda) if isinstance(cuda, int) else None,
        }
        count = self._call("nvmlDeviceGetCount") or 0
        self._handles = []
        for i in range(count):
            handle = self._call("nvmlDeviceGetHandleByIndex", i, gpu=i)
            self._handles.append(handle)
            if handle is not None:
                self._names[i] = (
                    text(self._call("nvmlDeviceGetName", handle, gpu=i)),
                    text(self._call("nvmlDeviceGetUUID", handle, gpu=i)),
                )
        if not self._problems:
            self._status = NvmlStatus("ok", f"{count} GPU(s)", **self._versions)
        return True

    def _gpus(self) -> tuple[GpuSample, ...]:
        if not self._start() or self._handles is None:
            return ()
        return tuple(self._gpu(i, h) for i, h in enumerate(self._handles))

    def _memory(self, i: int, handle: Any) -> tuple[int | None, int | None, int | None]:
        """(total, used, reserved): the v2 call where the driver has it, v1 otherwise."""
        version = self._nv.constant("nvmlMemory_v2")
        if version is not None and self._memory_v2.get(i, True):
            mem = self._call("nvmlDeviceGetMemoryInfo", handle, gpu=i, probe=True, version=version)
            if mem is not None:
                self._memory_v2[i] = True
                return int(mem.total), int(mem.used), int(mem.reserved)
            if self._nv.last_error in (ERR_FUNCTION_NOT_FOUND, ERR_NOT_SUPPORTED,
                                       ERR_INVALID_ARGUMENT,
                                    ERR_ARGUMENT_VERSION_MISMATCH):
                self._memory_v2[i] = False  # this driver has no v2: remember, use v1 from now on
            else:
                return None, None, None
        mem = self._call("nvmlDeviceGetMemoryInfo", handle, gpu=i)
        if mem is None:
            return None, None, None
        return int(mem.total), int(mem.used), None

    def _gpu(self, i: int, handle: Any) -> GpuSample:
        name, uuid = self._names.get(i, (None, None))
        if handle is None or i in self._lost:
            return GpuSample(i, name, uuid, *_NINE_NONES)
        total, used, reserved = self._memory(i, handle)
        util = self._call("nvmlDeviceGetUtilizationRates", handle, gpu=i)
        temp = self._call("nvmlDeviceGetTemperature", handle, TEMPERATURE_GPU, gpu=i)
        power_mw = self._call("nvmlDeviceGetPowerUsage", handle, gpu=i)
        limit_mw = self._power_limit_mw(i, handle)
        sm_clock = self._call("nvmlDeviceGetClockInfo", handle, CLOCK_SM, gpu=i)
        return GpuSample(
            index=i,
            name=name,
            uuid=uuid,
            memory_total_bytes=total,
            memory_used_bytes=used,
            memory_reserved_bytes=reserved,
            utilization_gpu_pct=float(util.gpu) if util is not None else None,
            utilization_memory_pct=float(util.memory) if util is not None else None,
            temperature_c=float(temp) if temp is not None else None,
            power_draw_w=power_mw / 1000 if power_mw is not None else None,
            power_limit_w=limit_mw / 1000 if limit_mw is not None else None,
            sm_clock_mhz=int(sm_clock) if sm_clock is not None else None,
            processes=self._processes(i, handle),
        )

    def _power_limit_mw(self, i: int, handle: Any) -> Any:
        """The power limit, re-read every POWER_LIMIT_REFRESH_S (it changes only by hand)."""
        now = self._monotonic()
        cached = self._power_limits.get(i)
        if cached is None or not 0 <= now - cached[0] < POWER_LIMIT_REFRESH_S:
            cached = self._power_limits[i] = (now, self._call("nvmlDeviceGetPowerManagementLimit",
                                                              handle, gpu=i))
        return cached[1]

    def _processes(self, i: int, handle: Any) -> tuple[GpuProcessSample, ...]:
        """Compute and graphics processes on GPU i, one entry per pid (compute wins)."""
        found: dict[int, GpuProcessSample] = {}
        for kind in ("compute", "graphics"):
            fn = f"nvmlDeviceGet{kind.capitalize()}RunningProcesses"
            for proc in self._call(fn, handle, gpu=i) or ():
                pid = int(proc.pid)
                if pid in found:
                    continue
                mem = getattr(proc, "usedGpuMemory", None)
                user, name = self._process_identity(pid)
                found[pid] = GpuProcessSample(
                    gpu_index=i, pid=pid, user=user, name=name, kind=kind,
                    gpu_memory_bytes=None if mem is None or mem >= VALUE_NOT_AVAILABLE
                    else int(mem),
                )
        return tuple(found.values())

    def _process_identity(self, pid: int) -> tuple[str | None, str | None]:
        """(user, command name) through psutil; None for what this user may not see."""
        if pid not in self._identity:
            user = name = None
            try:
                proc = psutil.Process(pid)
                name = proc.name()
                user = proc.username()
            except (psutil.Error, OSError, KeyError):  # gone, other namespace, unknown uid
                pass
            if len(self._identity) > 4096:
                self._identity.clear()
            self._identity[pid] = (user, name)
        return self._identity[pid]

    # -- host ---------------------------------------------------------------------------

    def _host(self, now: float) -> HostSample:
        cpu_total: float | None = psutil.cpu_percent(interval=None)
        per_core = tuple(psutil.cpu_percent(interval=None, percpu=True))
        if not self._cpu_primed:  # psutil's first non-blocking call has no baseline: 0.0
            self._cpu_primed = True
            cpu_total, per_core = None, ()
        try:
            load: tuple[float, float, float] | None = psutil.getloadavg()
        except (OSError, AttributeError):
            load = None
        vm = psutil.virtual_memory()
        swap_in = swap_out = None
        swap_total: int | None
        swap_used: int | None
        try:
            sw = psutil.swap_memory()
            swap_total, swap_used = int(sw.total), int(sw.used)
            prev = self._prev_swap
            if prev is not None:
                swap_in = _rate(sw.sin, (prev[0], prev[1]), now)
                swap_out = _rate(sw.sout, (prev[0], prev[2]), now)
            self._prev_swap = (now, float(sw.sin), float(sw.sout))
        except (OSError, RuntimeError):
            swap_total = swap_used = None
        disk_read = None
        try:
            disk = psutil.disk_io_counters()
        except (OSError, RuntimeError):
            disk = None
        if disk is not None:
            disk_read = _rate(disk.read_bytes, self._prev_disk, now)
            self._prev_disk = (now, float(disk.read_bytes))
        return HostSample(
            cpu_percent=cpu_total,
            cpu_percent_per_core=per_core,
            load_average=load,
            ram_total_bytes=int(vm.total),
            ram_available_bytes=int(vm.available),
            ram_used_bytes=int(vm.used),
            swap_total_bytes=swap_total,
            swap_used_bytes=swap_used,
            swap_in_bytes_per_s=swap_in,
            swap_out_bytes_per_s=swap_out,
            disk_read_bytes_per_s=disk_read,
        )

    def _watched_sample(self, pid: int, gpus: tuple[GpuSample, ...]) -> ProcSample:
        gpu_mem: int | None = None
        if self._handles is not None:
            mems = [p.gpu_memory_bytes for g in gpus for p in g.processes if p.pid == pid]
            gpu_mem = None if None in mems else sum(m for m in mems if m is not None)
        try:
            proc = self._watched.get(pid)
            if proc is None:
                proc = self._watched[pid] = psutil.Process(pid)
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    raise psutil.ZombieProcess(pid)
                rss = int(proc.memory_info().rss)
                cpu: float | None = proc.cpu_percent(interval=None)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return ProcSample(pid, alive=False, rss_bytes=None, cpu_percent=None,
                              gpu_memory_bytes=None)
        except (psutil.AccessDenied, OSError):
            return ProcSample(pid, alive=True, rss_bytes=None, cpu_percent=None,
                              gpu_memory_bytes=gpu_mem)
        if pid not in self._primed:  # the first cpu_percent call has no baseline
            self._primed.add(pid)
            cpu = None
        return ProcSample(pid, alive=True, rss_bytes=rss, cpu_percent=cpu, gpu_memory_bytes=gpu_mem)

