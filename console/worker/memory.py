"""Memory accounting in the engine: NVML figures for this process (through
`console.host.nvml.nvml_call`, N/A on failure), host RSS, giving freed heap back, the KV cache's
bytes, and what an unload freed and what still holds memory."""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Any

from console.host.nvml import nvml_call

MIB = 1024**2
# Unload counts as "back" when the engine's NVML usage is within this of its baseline.
BASELINE_TOLERANCE_BYTES = 8 * MIB

class EngineNvml:
    """NVML figures for this process: its own used memory per GPU (per-pid process lists),
    falling back to the device's used memory where the pid is not visible (containers)."""

    def __init__(self) -> None:
        self.ok = False
        self.error = ""
        self._nv: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nv = pynvml
            self.ok = True
        except Exception as exc:  # no driver, no library: every figure is N/A (None)
            self.error = f"{type(exc).__name__}: {exc}"

    def handle(self, cuda_index: int) -> Any:
        """The NVML handle of torch's cuda:<index> (CUDA_VISIBLE_DEVICES respected); None
        when NVML does not answer."""
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
        if visible:
            entries = visible.split(",")
            entry = entries[cuda_index].strip() if cuda_index < len(entries) else ""
            if entry.isdigit():
                return nvml_call(self._nv, "nvmlDeviceGetHandleByIndex", int(entry))
            return nvml_call(self._nv, "nvmlDeviceGetHandleByUUID", entry) if entry else None
        return nvml_call(self._nv, "nvmlDeviceGetHandleByIndex", cuda_index)

    def _memory(self, cuda_index: int) -> Any:
        if not self.ok:
            return None
        handle = self.handle(cuda_index)
        return None if handle is None else nvml_call(self._nv, "nvmlDeviceGetMemoryInfo", handle)

    def device_info(self, cuda_index: int) -> dict[str, Any]:
        unknown = {"index": cuda_index, "name": None, "total_bytes": None}
        if not self.ok:
            return unknown
        handle = self.handle(cuda_index)
        name = nvml_call(self._nv, "nvmlDeviceGetName", handle) if handle is not None else None
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
        procs = (nvml_call(self._nv, "nvmlDeviceGetComputeRunningProcesses", handle)
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


def malloc_trim() -> None:
    """Hand freed heap pages back to the OS (glibc), so RSS shows what unload freed."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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
