"""Memory accounting in the engine: NVML figures for this process (through
`console.host.nvml`'s session, N/A on failure), host RSS, giving freed heap back, the KV cache's
bytes, and what an unload freed and what still holds memory."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from typing import Any

from console.host.nvml import nvml

MIB = 1024**2
# Unload counts as "back" when the engine's NVML usage is within this of its baseline.
BASELINE_TOLERANCE_BYTES = 8 * MIB

class EngineNvml:
    """NVML figures for this process: its own used memory per GPU (per-pid process lists),
    falling back to the device's used memory where the pid is not visible (containers)."""

    def __init__(self) -> None:
        self._nv = nvml()
        failed = self._nv.start()  # no driver, no library: every figure is N/A (None)
        self.ok = failed is None
        self.error = failed[1] if failed is not None else ""

    def handle(self, cuda_index: int) -> Any:
        """The NVML handle of torch's cuda:<index> (CUDA_VISIBLE_DEVICES respected); None
        when NVML does not answer."""
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
        if visible:
            entries = visible.split(",")
            entry = entries[cuda_index].strip() if cuda_index < len(entries) else ""
            if entry.isdigit():
                return self._nv.call("nvmlDeviceGetHandleByIndex", int(entry))
            return self._nv.call("nvmlDeviceGetHandleByUUID", entry) if entry else None
        return self._nv.call("nvmlDeviceGetHandleByIndex", cuda_index)

    def _memory(self, cuda_index: int) -> Any:
        if not self.ok:
            return None
        handle = self.handle(cuda_index)
        return None if handle is None else self._nv.call("nvmlDeviceGetMemoryInfo", handle)

    def device_info(self, cuda_index: int) -> dict[str, Any]:
        unknown = {"index": cuda_index, "name": None, "total_bytes": None}
        if not self.ok:
            return unknown
        handle = self.handle(cuda_index)
        name = self._nv.call("nvmlDeviceGetName", handle) if handle is not None else None
        mem = self._memory(cuda_index)
        if name is None or mem is None:
            return unknown
        return {"index": cuda_index, "name": name if isinstance(name, str) else name.decode(),
                "total_bytes": int(mem.total)}

    def memory_info(self, cuda_index: int) -> tuple[int, int] | None:
        """(used, total) bytes of torch's cuda:<index> as NVML sees it (every process); the
        guard's per-tensor reading (~9 µs)."""
        mem = self._memory(cuda_index)
        return None if mem is None else (int(mem.used), int(mem.total))

    def usage(self, cuda_index: int) -> dict[str, Any]:
        """{'engine_bytes', 'source', 'device_used_bytes', 'other_processes_bytes'}."""
        out: dict[str, Any] = {"engine_bytes": None, "source": None, "device_used_bytes": None,
                               "other_processes_bytes": None}
        mem = self._memory(cuda_index)
        handle = self.handle(cuda_index) if mem is not None else None
        procs = (self._nv.call("nvmlDeviceGetComputeRunningProcesses", handle)
                 if handle is not None else None)
        if mem is None or procs is None:
            return out
        device_used = int(mem.used)
        pid = os.getpid()
        mine = [p for p in procs if p.pid == pid]
        others = sum(int(p.usedGpuMemory or 0) for p in procs if p.pid != pid)
        out["device_used_bytes"] = device_used
        if mine and mine[0].usedGpuMemory is not None:
            out["engine_bytes"] = int(mine[0].usedGpuMemory)
            out["source"] = "process"
            out["other_processes_bytes"] = others
        else:  # our pid is not visible (pid namespace): the device figure is the best we have
            out["engine_bytes"] = device_used
            out["source"] = "device"
        return out


def rss_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (its malloc_trim and mallopt), else None."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def malloc_trim() -> None:
    """Hand freed heap pages back to the OS (glibc), so RSS shows what unload freed."""
    libc = _glibc()
    if libc is not None:
        with contextlib.suppress(Exception):
            libc.malloc_trim(0)


# glibc raises its mmap threshold (up to 32 MiB) each time a large mmapped block is freed, and
# its trim threshold to twice that. After one load has freed its 16 MiB read buffers, tensors
# of a few MiB come from a thread's arena, and what is freed at that arena's top stays
# resident: malloc_trim trims only the main arena's top. An aborted load's unload then left
# 12 MiB of RSS behind in 5 of 13 runs on a busy 2-core machine (the thread that got the
# arena decides). Fixed thresholds stop the raising: blocks of 1 MiB or more are mapped and
# unmapped on free, and an arena's top is trimmed above 2 MiB.
MALLOC_MMAP_THRESHOLD_BYTES = 1 * MIB
MALLOC_TRIM_THRESHOLD_BYTES = 2 * MIB
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MALLOC_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                        "MALLOC_MMAP_MAX_")


def fix_malloc_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds (above) for this process, unless the user tuned
    malloc in the environment (MALLOC_*_ variables, glibc.malloc tunables). True when set."""
    if any(name in os.environ for name in MALLOC_USER_SETTINGS) or (
            "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")):
        return False
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES)
                and libc.mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD_BYTES))


def cache_tensor_bytes(cache: Any) -> int | None:
    """Bytes of the key/value tensors a generation cache holds."""
    if cache is None:
        return None
    total = 0
    layers = getattr(cache, "layers", None)
    if layers is not None:
        for layer in layers:
            for attr in ("keys", "values"):
                t = getattr(layer, attr, None)
                if t is not None and hasattr(t, "nbytes"):
                    total += int(t.nbytes)
        return total
    if isinstance(cache, (tuple, list)):
        for item in cache:
            for t in item if isinstance(item, (tuple, list)) else (item,):
                total += int(getattr(t, "nbytes", 0))
        return total
    return None


def _unload_accounting(before: dict[str, Any], after: dict[str, Any]
                       ) -> tuple[int, int, dict[str, Any]]:
    """(freed bytes, bytes still held above baseline, what holds them)."""
    if after["devices"]:
        freed = sum((b["nvml_used_bytes"] or 0) - (a["nvml_used_bytes"] or 0)
                    for b, a in zip(before["devices"], after["devices"], strict=False))
        held = sum(max(0, (a["nvml_used_bytes"] or 0) - (a["nvml_baseline_bytes"] or 0))
                   for a in after["devices"])
        live = sum(a["allocated_bytes"] for a in after["devices"])
        cache = sum(a["reserved_unallocated_bytes"] for a in after["devices"])
        held_by: dict[str, Any] = {
            "live_tensors_bytes": live,
            "allocator_cache_bytes": cache,
            # context growth since the baseline: CUDA libraries and kernels loaded on first use
            "outside_allocator_bytes": max(0, held - live - cache),
            "other_processes_bytes": sum(a["other_processes_bytes"] or 0
                                         for a in after["devices"]),
            "per_device": [{"device": a["device"], "nvml_used_bytes": a["nvml_used_bytes"],
                            "nvml_baseline_bytes": a["nvml_baseline_bytes"]}
                           for a in after["devices"]],
        }
        return freed, held, held_by
    rss_b, rss_a = before.get("rss_bytes") or 0, after.get("rss_bytes") or 0
    base = after.get("rss_baseline_bytes") or 0
    held = max(0, rss_a - base)
    return rss_b - rss_a, held, {"host_rss_above_pre_load_bytes": held}
