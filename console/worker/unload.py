"""The unload job: release the model, watch NVML until the memory is back, and account for
what was freed and what still holds memory (`unloaded`)."""

from __future__ import annotations

import gc
import sys
import time
import weakref
from typing import Any

from console.core import protocol
from console.core.units import fmt_bytes
from console.worker.base import UNLOAD_WATCH_S, EngineParts
from console.worker.memory import (
    BASELINE_TOLERANCE_BYTES,
    _unload_accounting,
    malloc_trim,
    rss_bytes,
)

RSS_SETTLE_S = 2.0  # an aborted load's unload waits at most this long for late frees
RSS_STEADY_BYTES = 256 * 1024  # host RSS moving less than this per 50 ms is steady
RSS_STEADY_SAMPLES = 4


class UnloadJob(EngineParts):
    """The engine's unload job (a part of `console.worker.worker.Engine`)."""

    def _release(self) -> None:
        """Drop every reference we hold and return memory to the OS / driver."""
        self.loaded = None
        self._processor = None  # issue 16: it names the Loaded it was built for
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, name):
                setattr(sys, name, None)
        gc.collect()
        if self.cuda_baseline:
            torch = self.torch
            for index in self._cuda_indices():
                with torch.cuda.device(index):
                    torch.cuda.synchronize()
            clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
            if clear is not None:
                clear()
            torch.cuda.empty_cache()
        malloc_trim()

    def _job_unload(self, msg: protocol.Unload | protocol.AnyCommand, final: bool = True,
                    before: dict[str, Any] | None = None) -> None:
        """Unload and prove it. `before`: figures taken earlier (an aborted load's, taken
        while its tensors were still alive), else now. After an aborted load the loader's
        threads may still finish reads they had started and free them in their own malloc
        arenas after the trim: host RSS is then trimmed again until it is steady."""
        reply_to = msg.id
        self.set_state("unloading", reply_to)
        t0 = time.perf_counter()
        before = before if before is not None else self.figures()
        had_model = self.loaded is not None
        model_ref = weakref.ref(self.loaded.model) if self.loaded is not None else None
        label = self.loaded.info["label"] if self.loaded is not None else None
        self._release()
        if before is not None:
            self._settle_rss()
        # Watch NVML until every device is back at its baseline, or the allocator holds nothing
        # and NVML has stopped moving, or the time is up.
        after = self.figures()
        previous = None
        steady = 0
        while self.cuda_baseline and time.perf_counter() - t0 < UNLOAD_WATCH_S:
            devs = after["devices"]
            back = all(d["nvml_used_bytes"] is None or d["nvml_baseline_bytes"] is None
                       or d["nvml_used_bytes"] - d["nvml_baseline_bytes"]
                       <= BASELINE_TOLERANCE_BYTES for d in devs)
            now = [d["nvml_used_bytes"] for d in devs]
            steady = steady + 1 if now == previous else 0
            if back or (steady >= 4 and all(d["reserved_bytes"] == 0 for d in devs)):
                break
            previous = now
            time.sleep(0.05)
            after = self.figures()
        seconds = time.perf_counter() - t0
        freed, held, held_by = _unload_accounting(before, after)
        context_growth = self._rebase_context(after)
        if context_growth:
            held_by["context_growth_bytes"] = context_growth
        if model_ref is not None and model_ref() is not None:
            referrers = sorted({type(r).__name__ for r in gc.get_referrers(model_ref())})
            held_by["model_still_referenced_by"] = referrers
        message = f"freed {fmt_bytes(freed)} in {seconds:.2f} s"
        if not after["devices"]:
            # On the CPU there is no baseline to prove: RSS also keeps the code imported by
            # the first load and the allocator's arenas, so say what it is.
            message += f"; host RSS {fmt_bytes(held)} above its pre-load level"
        elif context_growth and held <= context_growth + BASELINE_TOLERANCE_BYTES:
            message += (f"; back to the CUDA context, which grew by {fmt_bytes(context_growth)}"
                        " since start-up (kernels and CUDA libraries loaded on first use; "
                        "a hard unload returns it)")
        elif held > BASELINE_TOLERANCE_BYTES:
            parts = [f"{k.replace('_bytes', '').replace('_', ' ')} {fmt_bytes(v)}"
                     for k, v in held_by.items() if isinstance(v, int) and v > 0]
            message += f"; {fmt_bytes(held)} VRAM still held above the baseline"
            if parts:
                message += f" ({', '.join(parts)})"
        if final:
            self._job_finishing()
        self.emit("unloaded", reply_to, freed_bytes=freed, seconds=seconds, held_bytes=held,
                  held_by=held_by, message=message, had_model=had_model, label=label,
                  before=before, after=after)
        if final:
            self.set_state("idle", reply_to)

    def _settle_rss(self) -> None:
        """Trim host memory every 50 ms until RSS holds still for RSS_STEADY_SAMPLES samples
        (or RSS_SETTLE_S is up)."""
        deadline = time.perf_counter() + RSS_SETTLE_S
        last = rss_bytes()
        steady = 0
        while last is not None and steady < RSS_STEADY_SAMPLES and time.perf_counter() < deadline:
            time.sleep(0.05)
            gc.collect()
            malloc_trim()
            now = rss_bytes()
            if now is None:
                return
            steady = steady + 1 if abs(now - last) < RSS_STEADY_BYTES else 0
            last = now

    def _rebase_context(self, after: dict[str, Any]) -> int:
        """Move each device's baseline up to NVML's figure when the allocator holds nothing
        there (what is left is context); return the growth since start-up, summed."""
        growth = 0
        for d in after["devices"]:
            index = int(d["device"].split(":")[1])
            used, initial = d["nvml_used_bytes"], self.cuda_context_initial.get(index)
            if used is None or initial is None:
                continue
            if d["allocated_bytes"] == 0 and d["reserved_bytes"] == 0:
                self.cuda_baseline[index] = max(used, initial)
            growth += max(0, (self.cuda_baseline[index] or initial) - initial)
        return growth

    # ---- generate
