"""The engine process: `python -m console.worker.worker --commands-fd R --events-fd W`.

It owns torch and transformers. Commands arrive as JSON lines on the `--commands-fd` pipe and
events leave as JSON lines on the `--events-fd` pipe (console/core/protocol.py). stdout and stderr
are left to the libraries: the client reads them as raw text lines for the log pane and the
session log. stdin is not used (a library prompt can never swallow a command).

Threads: the main thread reads commands and answers the quick ones itself (gc, empty_cache,
memory_report, stop_generation, ping), so they answer while a job runs; load, unload and
generate run one at a time on a job thread. End of the commands pipe (the app went away)
ends the process.

Test-only knob: AUTOGLM_ENGINE_TEST_SLOW_LOAD_S=<seconds> sleeps that long before each tensor
in the load progress hook, making a load deterministically slow (tests kill the engine
mid-load with it). AUTOGLM_ENGINE_PROGRESS_METHOD=patch forces the fallback progress hook.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import queue
import re
import struct
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from console.core import protocol
from console.core.units import fmt_bytes
from console.worker.hooks import TensorStep

MIB = 1024**2
# Unload counts as "back" when the engine's NVML usage is within this of its baseline.
BASELINE_TOLERANCE_BYTES = 8 * MIB
UNLOAD_WATCH_S = 5.0
PROGRESS_INTERVAL_S = 0.1
DTYPES = {"auto": "auto", "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16",
          "float16": "float16", "half": "float16", "fp32": "float32", "float32": "float32"}
_DEVICE_RE = re.compile(r"^(cpu|auto|cuda|cuda:\d+)$")


class EngineError(Exception):
    """A failure with a clear message (and the fix) that needs no traceback to explain."""

    error_type = "EngineError"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class ModelNotFound(EngineError):
    error_type = "ModelNotFound"


class NoWeights(EngineError):
    error_type = "NoWeights"


class UnknownArchitecture(EngineError):
    error_type = "UnknownArchitecture"


class RemoteCodeRefused(EngineError):
    error_type = "RemoteCodeRefused"


class Busy(EngineError):
    error_type = "Busy"


class NotLoaded(EngineError):
    error_type = "NotLoaded"


class BadCommand(EngineError):
    error_type = "BadCommand"


class LoadAborted(EngineError):
    error_type = "LoadAborted"


class PreflightFailed(EngineError):
    """The pre-load gate found the checkpoint broken: nothing was placed."""

    error_type = "PreflightFailed"


class WillNotFit(EngineError):
    """The pre-load gate's estimate does not fit; `force` overrides it."""

    error_type = "WillNotFit"


class ResumeRefused(EngineError):
    error_type = "ResumeRefused"


class LoaderUnavailable(EngineError):
    """`loader: fast` was asked for, but the checkpoint needs the stock path (the reason)."""

    error_type = "LoaderUnavailable"


# --------------------------------------------------------------------------- events out


class EventWriter:
    """Writes events to the events pipe, one JSON line each, from any thread."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, name: str, reply_to: int | None = None, **fields: Any) -> None:
        line = protocol.encode(protocol.event(name, reply_to, **fields)).encode("utf-8")
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                os._exit(0)  # the app is gone: nothing left to serve


Emit = Callable[..., None]


# --------------------------------------------------------------------------- memory figures


class EngineNvml:
    """NVML figures for this process: its own used memory per GPU (per-pid process lists),
    falling back to the device's used memory where the pid is not visible (containers)."""

    def __init__(self) -> None:
        self.ok = False
        self.error = ""
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nv: Any = pynvml
            self.ok = True
        except Exception as exc:  # no driver, no library: figures become None
            self.error = f"{type(exc).__name__}: {exc}"

    def handle(self, cuda_index: int) -> Any:
        """The NVML handle of torch's cuda:<index> (CUDA_VISIBLE_DEVICES respected)."""
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
        if visible:
            entry = visible.split(",")[cuda_index].strip()
            if entry.isdigit():
                return self._nv.nvmlDeviceGetHandleByIndex(int(entry))
            return self._nv.nvmlDeviceGetHandleByUUID(entry)
        return self._nv.nvmlDeviceGetHandleByIndex(cuda_index)

    def device_info(self, cuda_index: int) -> dict[str, Any]:
        if not self.ok:
            return {"index": cuda_index, "name": None, "total_bytes": None}
        try:
            h = self.handle(cuda_index)
            name = self._nv.nvmlDeviceGetName(h)
            total = int(self._nv.nvmlDeviceGetMemoryInfo(h).total)
            return {"index": cuda_index, "name": name if isinstance(name, str) else name.decode(),
                    "total_bytes": total}
        except Exception:
            return {"index": cuda_index, "name": None, "total_bytes": None}

    def memory_info(self, cuda_index: int) -> tuple[int, int] | None:
        """(used, total) bytes of torch's cuda:<index> as NVML sees it (every process); the
        guard's per-tensor reading (~9 µs)."""
        if not self.ok:
            return None
        try:
            mem = self._nv.nvmlDeviceGetMemoryInfo(self.handle(cuda_index))
            return int(mem.used), int(mem.total)
        except Exception:
            return None

    def usage(self, cuda_index: int) -> dict[str, Any]:
        """{'engine_bytes', 'source', 'device_used_bytes', 'other_processes_bytes'}."""
        out: dict[str, Any] = {"engine_bytes": None, "source": None, "device_used_bytes": None,
                               "other_processes_bytes": None}
        if not self.ok:
            return out
        try:
            h = self.handle(cuda_index)
            device_used = int(self._nv.nvmlDeviceGetMemoryInfo(h).used)
            procs = list(self._nv.nvmlDeviceGetComputeRunningProcesses(h))
        except Exception:
            return out
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


# --------------------------------------------------------------------------- load progress


def safetensors_index(files: list[Path]) -> dict[str, tuple[int, str]]:
    """checkpoint key -> (bytes, file name), from the safetensors headers only."""
    keys: dict[str, tuple[int, str]] = {}
    for path in files:
        if path.suffix != ".safetensors":
            continue
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > 100 * MIB:  # not a sane header: let the loader raise its own error
                continue
            header = json.loads(fh.read(length))
        for key, info in header.items():
            if key == "__metadata__":
                continue
            start, end = info["data_offsets"]
            keys[key] = (int(end) - int(start), path.name)
    return keys


class LoadTracker:
    """Counts tensors and bytes as transformers materialises them and emits `progress`.

    transformers 5.17+: `transformers.utils.logging.set_tqdm_hook` sees the "Loading weights"
    bar, which iterates the target parameters one per tensor before materialising each; we wrap
    that iteration. 5.0-5.16: the same bar through a patch of `core_model_loading.tqdm`.
    Otherwise (4.x) only start and end are reported. `before_tensor` hooks run on the loading
    thread before each tensor and may block (pause) or raise (abort): the guard plugs in here.
    """

    def __init__(self, emit: Emit, reply_to: int, files: list[Path],
                 before_tensor: list[Callable[[TensorStep], None]],
                 device_for: Callable[[str], str] | None = None) -> None:
        self.emit = emit
        self.device_for = device_for or (lambda name: "cpu")
        self.reply_to = reply_to
        self.key_info = safetensors_index(files)
        known = sum(n for n, _ in self.key_info.values())
        # .bin pickles have no header: count their file sizes and spread them over tensors.
        self.bytes_total = known + sum(p.stat().st_size for p in files
                                       if p.suffix != ".safetensors")
        self.bytes_exact = all(p.suffix == ".safetensors" for p in files)
        self.tensors_total = len(self.key_info)
        self.tensors_done = 0
        self.bytes_done = 0
        self.current_file: str | None = files[0].name if files else None
        self.before_tensor = before_tensor
        self.slow_s = float(os.environ.get("AUTOGLM_ENGINE_TEST_SLOW_LOAD_S", "0") or 0)
        self.method = "none"
        self.t_start = time.perf_counter()
        self._last_emit = 0.0
        self._pending = False
        self._pending_bytes = 0
        # Which loader runs ("fast" / "stock", None until decided) and why not fast: the
        # console.worker.fastload Outcome of this load, shown in every progress event.
        self.outcome: Any = None

    # -- hook installation (feature-detected; these are private and move between versions)
    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from transformers.utils import logging as hf_logging

        forced = os.environ.get("AUTOGLM_ENGINE_PROGRESS_METHOD", "")
        set_hook = getattr(hf_logging, "set_tqdm_hook", None)
        if set_hook is not None and forced != "patch":
            previous = set_hook(self._tqdm_hook)
            self.method = "set_tqdm_hook"
            try:
                yield
            finally:
                set_hook(previous)
            return
        try:
            import transformers.core_model_loading as cml_module

            cml: Any = cml_module
        except ImportError:
            cml = None
        if cml is not None and hasattr(cml, "tqdm"):
            original = cml.tqdm
            cml.tqdm = lambda *a, **kw: self._tqdm_hook(original, a, kw)
            self.method = "patch core_model_loading.tqdm"
            try:
                yield
            finally:
                cml.tqdm = original
            return
        yield

    def _tqdm_hook(self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        bar = factory(*args, **kwargs)
        if kwargs.get("desc") == "Loading weights" and args:
            return _CountingBar(bar, self)
        return bar

    # -- counting
    def begin(self, total: int) -> None:
        self.tensors_total = total
        self.t_start = time.perf_counter()
        self.report(force=True)

    def step(self, item: Any) -> None:
        """Called with the next ("target name", mapping) item, before it is materialised."""
        self._finish_pending()
        name, mapping = item if isinstance(item, tuple) and len(item) == 2 else (str(item), None)
        nbytes, file = self._bytes_and_file(name, mapping)
        if file:
            self.current_file = file
        self._pending_bytes = nbytes
        self._pending = True
        step = TensorStep(name, nbytes, file, self.tensors_done, self.tensors_total,
                          self.device_for(name))
        for hook in self.before_tensor:
            hook(step)
        if self.slow_s:
            time.sleep(self.slow_s)
        self.report()

    def step_exact(self, step: TensorStep) -> None:
        """The fast loader's per-tensor call (console/worker/fastload.py): it knows each tensor's
        device bytes, file and device itself; progress counts the checkpoint bytes."""
        if step.index == 0:
            self.method = "fast loader"
            self.begin(step.total)
        self._finish_pending()
        if step.file:
            self.current_file = step.file
        self._pending_bytes = self.key_info.get(step.name, (step.nbytes, None))[0]
        self._pending = True
        for hook in self.before_tensor:
            hook(step)
        if self.slow_s:
            time.sleep(self.slow_s)
        self.report()

    def end(self) -> None:
        self._finish_pending()
        if not self.bytes_exact:
            self.bytes_done = self.bytes_total
        self.report(force=True)

    def _finish_pending(self) -> None:
        """The tensor handed out last is materialised once the loop asks for the next one."""
        if self._pending:
            self.tensors_done += 1
            self.bytes_done += self._pending_bytes
        self._pending = False
        self._pending_bytes = 0

    def _bytes_and_file(self, name: str, mapping: Any) -> tuple[int, str | None]:
        sources: set[str] = set()
        targets = getattr(mapping, "layer_targets", None)
        if isinstance(targets, dict):
            for keys in targets.values():
                sources.update(keys)
        if not sources:
            sources = {name}
        nbytes, file = 0, None
        for key in sources:
            info = self.key_info.get(key)
            if info is not None:
                nbytes += info[0]
                file = info[1]
        if not self.bytes_exact and self.tensors_total:
            nbytes = self.bytes_total // self.tensors_total
        return nbytes, file

    def report(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_emit < PROGRESS_INTERVAL_S:
            return
        self._last_emit = now
        elapsed = now - self.t_start
        rate = self.bytes_done / elapsed if elapsed > 0 and self.bytes_done else None
        eta = (self.bytes_total - self.bytes_done) / rate if rate else None
        self.emit("progress", self.reply_to, tensors_done=self.tensors_done,
                  tensors_total=self.tensors_total, bytes_done=self.bytes_done,
                  bytes_total=self.bytes_total, rate_bytes_per_s=rate, eta_s=eta,
                  current_file=self.current_file, elapsed_s=elapsed, method=self.method,
                  loader=getattr(self.outcome, "loader", None),
                  fallback_reason=getattr(self.outcome, "fallback_reason", None))


class _CountingBar:
    """Wraps transformers' "Loading weights" bar: the real bar still prints (raw output)."""

    def __init__(self, bar: Any, tracker: LoadTracker) -> None:
        self._bar = bar
        self._tracker = tracker

    def __iter__(self) -> Iterator[Any]:
        items = self._bar
        try:
            total = len(items)
        except TypeError:
            total = self._tracker.tensors_total
        self._tracker.begin(total)
        for item in items:
            self._tracker.step(item)
            yield item
        self._tracker.end()

    def __len__(self) -> int:
        return len(self._bar)

    def __enter__(self) -> _CountingBar:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._bar.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)


# --------------------------------------------------------------------------- the engine


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    info: dict[str, Any]
    devices: list[str] = field(default_factory=list)  # "cuda:0", ... or ["cpu"]


def weight_files(directory: Path) -> list[Path]:
    """The weight files a load reads: safetensors first (what transformers prefers), else .bin."""
    st = sorted(directory.glob("*.safetensors"))
    if st:
        return st
    return sorted(p for p in directory.glob("*.bin") if p.name.startswith(("pytorch_model", "model")))


def kv_bytes_per_token(config: Any, dtype_bytes: int) -> int | None:
    """2 x layers x kv_heads x head_dim x dtype bytes (GQA enters through kv_heads)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", None)
    heads = getattr(text, "num_attention_heads", None) or getattr(text, "n_head", None)
    hidden = getattr(text, "hidden_size", None) or getattr(text, "n_embd", None)
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or (hidden // heads if hidden and heads else None)
    if not (layers and kv_heads and head_dim):
        return None
    return int(2 * layers * kv_heads * head_dim * dtype_bytes)


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


class Engine:
    def __init__(self, emit: Emit) -> None:
        import torch
        import transformers

        # Import the loading and generation machinery now (transformers imports lazily), so
        # a load pays for reading weights, not for importing code.
        from transformers import (  # noqa: F401
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForImageTextToText,
            AutoTokenizer,
            StoppingCriteriaList,
        )
        from transformers.models.auto import configuration_auto, modeling_auto  # noqa: F401

        self.torch = torch
        self.transformers = transformers
        self.emit = emit
        self.nvml = EngineNvml()
        self.state = "idle"
        self.loaded: Loaded | None = None
        self.lock = threading.Lock()
        self.job_kind = ""  # the job accepted last, until it is done ("" = none)
        # Jobs (load, unload, generate, fingerprint) run one after another on ONE long-lived
        # thread, in the order accepted. A thread made per job generated 2.7x slower on the
        # H100 host (8B bf16: 13.8 vs 38.9 tokens/s in the same process; a long-lived thread
        # 0.99x: benchmarks/generate_overhead.py).
        self.jobs: queue.SimpleQueue[tuple[int, Callable[[dict[str, Any]], None],
                                           dict[str, Any]]] = queue.SimpleQueue()
        self.job_seq = 0  # jobs accepted so far
        self.jobs_finished = 0
        self.running_seq = 0  # the job the job thread runs now (or ran last)
        self.jobs_done = threading.Condition()
        self.job_thread = threading.Thread(target=self._run_jobs, name="engine-jobs",
                                           daemon=True)
        self.job_thread.start()
        self.stop_generation = threading.Event()
        self.abort_load = threading.Event()
        from console.worker.loadguard import LoadGuard

        # The guard: pauses / aborts a load under memory pressure (console/worker/loadguard.py)
        self.guard = LoadGuard(emit, self._device_memory, aborted_error=LoadAborted)
        # Per-tensor hooks run before each tensor is placed (console/worker/hooks.py).
        self.before_tensor: list[Callable[[TensorStep], None]] = [
            self.guard.before_tensor, self._check_abort]
        # NVML engine bytes with the CUDA context only. The context grows when a load or a
        # generation first loads kernels and library handles (lazy module loading, cuBLAS):
        # after an unload that leaves the allocator empty, what NVML still shows is context,
        # so the baseline moves up to it; `cuda_context_initial` keeps the first figure.
        self.cuda_baseline: dict[int, int | None] = {}
        self.cuda_context_initial: dict[int, int | None] = {}
        self.rss_baseline = rss_bytes()  # host RSS before the current model's load
        self.offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")

    # ---- helpers
    def set_state(self, state: str, reply_to: int | None = None, **fields: Any) -> None:
        # A job's last word: the next command may start a new job.
        if state in ("idle", "loaded", "error"):
            self._job_finishing()
        self.state = state
        self.emit("state", reply_to, state=state, **fields)

    def _job_finishing(self) -> None:
        """The running job has said its last word: accept the next. Only from the job thread,
        and only while no later job was accepted: a job that already cleared job_kind (load
        does, before `loaded`) must not clear the next job's when its last state event comes
        late, nor may a generation that an unload stopped clear the unload's."""
        if threading.current_thread() is not self.job_thread:
            return
        with self.lock:
            if self.running_seq == self.job_seq:
                self.job_kind = ""

    def _run_jobs(self) -> None:
        while True:
            seq, target, msg = self.jobs.get()
            self.running_seq = seq
            try:
                target(msg)
            except BaseException as exc:  # the targets report their own errors; not this one
                self._job_finishing()
                self._error(msg.get("id"), msg.get("cmd", "?"), _strip(exc),
                            traceback.format_exc())
            finally:
                with self.jobs_done:
                    self.jobs_finished = seq
                    self.jobs_done.notify_all()

    def wait_jobs(self, timeout: float | None = None) -> bool:
        """Until every job accepted so far has finished (benchmarks, tests); False on timeout."""
        with self.lock:
            seq = self.job_seq
        with self.jobs_done:
            return self.jobs_done.wait_for(lambda: self.jobs_finished >= seq, timeout)

    def log(self, level: str, message: str, reply_to: int | None = None) -> None:
        self.emit("log", reply_to, level=level, message=message)

    def hello(self) -> None:
        torch = self.torch
        cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        self.emit("hello", protocol=protocol.PROTOCOL_VERSION, pid=os.getpid(),
                  python=sys.version.split()[0], torch=torch.__version__,
                  transformers=self.transformers.__version__,
                  cuda=torch.version.cuda, cuda_available=cuda_count > 0,
                  devices=[self.nvml.device_info(i) for i in range(cuda_count)],
                  nvml=self.nvml.ok, nvml_error=self.nvml.error, offline=self.offline,
                  rss_bytes=self.rss_baseline)

    def _cuda_indices(self) -> list[int]:
        return sorted(self.cuda_baseline)

    def _ensure_context(self, index: int) -> None:
        """Create the CUDA context on `index` (once) and record the engine's NVML baseline."""
        if index in self.cuda_baseline:
            return
        torch = self.torch
        with torch.cuda.device(index):
            torch.cuda.synchronize()
        self.cuda_baseline[index] = self.nvml.usage(index)["engine_bytes"]
        self.cuda_context_initial[index] = self.cuda_baseline[index]

    def figures(self) -> dict[str, Any]:
        """Allocator and NVML figures per CUDA device the engine uses, plus host RSS."""
        torch = self.torch
        devices: list[dict[str, Any]] = []
        for index in self._cuda_indices():
            stats = torch.cuda.memory_stats(index)
            allocated = int(stats.get("allocated_bytes.all.current", 0))
            reserved = int(stats.get("reserved_bytes.all.current", 0))
            usage = self.nvml.usage(index)
            devices.append({
                "device": f"cuda:{index}",
                "allocated_bytes": allocated,
                "reserved_bytes": reserved,
                "reserved_unallocated_bytes": reserved - allocated,
                "inactive_split_bytes": int(stats.get("inactive_split_bytes.all.current", 0)),
                "peak_allocated_bytes": int(stats.get("allocated_bytes.all.peak", 0)),
                "alloc_retries": int(stats.get("num_alloc_retries", 0)),
                "ooms": int(stats.get("num_ooms", 0)),
                "nvml_used_bytes": usage["engine_bytes"],
                "nvml_source": usage["source"],
                "nvml_baseline_bytes": self.cuda_baseline.get(index),
                "nvml_context_initial_bytes": self.cuda_context_initial.get(index),
                "device_used_bytes": usage["device_used_bytes"],
                "other_processes_bytes": usage["other_processes_bytes"],
            })
        return {"devices": devices, "rss_bytes": rss_bytes(), "rss_baseline_bytes": self.rss_baseline}

    def _device_memory(self, device: str) -> tuple[int, int] | None:
        """(used, total) bytes now: host RAM for "cpu" (used = total - available), NVML for
        "cuda:N"; None for anything else (disk, meta)."""
        if device == "cpu":
            try:
                import psutil

                vm = psutil.virtual_memory()
                return int(vm.total - vm.available), int(vm.total)
            except Exception:
                return None
        if device.startswith("cuda"):
            return self.nvml.memory_info(int(device.split(":")[1]) if ":" in device else 0)
        return None

    def _check_abort(self, step: TensorStep) -> None:
        if self.abort_load.is_set():
            # The abort can land between the guard's hook and this one: the guard still
            # announces it (`aborted`), as when its own hook stops the load.
            self.guard.raise_if_aborted(step)
            raise LoadAborted(f"load aborted before tensor {step.index + 1}/{step.total}")

    # ---- command dispatch (main thread)
    def handle(self, msg: dict[str, Any]) -> None:
        name = msg["cmd"]
        msg_id = msg["id"]
        if name == "ping":
            self.emit("pong", msg_id, state=self.state)
        elif name == "gc":
            before = self.figures()
            collected = gc.collect()
            self.emit("gc", msg_id, collected=collected, before=before, after=self.figures())
        elif name == "empty_cache":
            before = self.figures()
            if self.cuda_baseline:
                self.torch.cuda.empty_cache()
            malloc_trim()
            self.emit("empty_cache", msg_id, before=before, after=self.figures())
        elif name == "memory_report":
            report = self.figures()
            self.emit("memory_report", msg_id, **report, state=self.state)
        elif name == "stop_generation":
            self.stop_generation.set()
            self.log("info", "stop requested", msg_id)
        elif name == "abort":
            if self.job_kind != "load":
                self._error(msg_id, name, NotLoaded("abort: no load is running"))
            else:
                self.guard.abort()  # wakes a paused load at once
                self.abort_load.set()  # after the guard's state, so either hook reports it
        elif name == "pause":
            if self.job_kind != "load" or not self.guard.pause():
                self._error(msg_id, name, NotLoaded("pause: no load is running"))
            else:
                self.log("info", "pause requested: the load stops before its next tensor", msg_id)
        elif name == "resume":
            refusal = self.guard.resume(force=bool(msg.get("force", False)), command_id=msg_id)
            if refusal is not None:
                self._error(msg_id, name, ResumeRefused(
                    f"resume: {refusal}", "free memory (gc, empty_cache, unload, or end another "
                    "process), raise the threshold (set_thresholds), or resume with force"))
        elif name == "set_thresholds":
            from console.worker.loadguard import parse_settings

            changes = {k: msg[k] for k in ("thresholds", "auto_resume", "stall_s", "on_pause",
                                           "enabled") if k in msg}
            try:
                self.guard.configure(parse_settings(changes, self.guard.settings))
            except ValueError as exc:
                self._error(msg_id, name, BadCommand(f"set_thresholds: {exc}"))
                return
            self.emit("guard", msg_id, **self.guard.status())
        elif name == "fingerprint":
            self._start_job("fingerprint", msg, self._job_fingerprint)
        elif name == "load":
            self._start_job("load", msg, self._job_load)
        elif name == "unload":
            self._start_job("unload", msg, self._job_unload)
        elif name == "generate":
            self._start_job("generate", msg, self._job_generate)
        elif name == "shutdown":
            self.stop_generation.set()
            self.abort_load.set()
            self.emit("bye", msg_id)
            os._exit(0)

    def _start_job(self, kind: str, msg: dict[str, Any], target: Callable[[dict[str, Any]], None]
                   ) -> None:
        with self.lock:
            running = bool(self.job_kind)
            if running and kind == "unload" and self.job_kind == "generate":
                self.stop_generation.set()  # unload during generation: stop it, then unload
            elif running:
                self._error(msg["id"], kind, Busy(
                    f"{kind}: the engine is busy ({self.job_kind} running)",
                    "wait for it to finish, stop the generation, or hard-unload"))
                return
            if kind == "generate" and self.loaded is None:
                self._error(msg["id"], kind, NotLoaded("generate: no model is loaded",
                                                       "load a model first"))
                return
            if kind == "generate":  # here, not when it starts: a stop sent meanwhile counts
                self.stop_generation.clear()
            self.job_kind = kind
            self.job_seq += 1
            self.jobs.put((self.job_seq, target, msg))

    def _error(self, reply_to: int | None, cmd: str, exc: BaseException, tb_text: str = ""
               ) -> None:
        hint = getattr(exc, "hint", "")
        error_type = getattr(exc, "error_type", None) or type(exc).__name__
        message = str(exc) or error_type
        self.emit("error", reply_to, command=cmd, error_type=error_type, message=message,
                  hint=hint, traceback=tb_text)

    # ---- load
    def _resolve(self, name: str, allow_download: bool) -> tuple[Path, str]:
        from console.core import hfcache
        from console.worker import demo

        if name == demo.DEMO_NAME:
            self.log("info", "preparing the demo model (random weights)")
            return demo.ensure(), demo.DEMO_LABEL
        try:
            return hfcache.resolve(name), name
        except hfcache.ModelNotFound as exc:
            repo_id = name.partition("@")[0]
            if allow_download and hfcache.looks_like_repo_id(repo_id):
                if self.offline:
                    raise ModelNotFound(
                        f"{name!r} is not in the local cache and this engine runs offline",
                        "start it with downloads allowed (--allow-download)") from None
                from huggingface_hub import snapshot_download

                self.log("warning", f"downloading {name} (downloads were allowed explicitly)")
                revision = name.partition("@")[2] or None
                return Path(snapshot_download(repo_id, revision=revision)), name
            raise ModelNotFound(str(exc), "check the path, or the hub id in the local cache"
                                ) from None

    def _model_class(self, path: Path, config_dict: dict[str, Any], trust_remote_code: bool,
                     reply_to: int) -> tuple[Any, str]:
        from transformers.models.auto import configuration_auto, modeling_auto

        tf = self.transformers
        model_type = config_dict.get("model_type")
        auto_map = config_dict.get("auto_map") or {}
        if auto_map:
            if not trust_remote_code:
                raise RemoteCodeRefused(
                    f"{path / 'config.json'} has auto_map: this model needs its own Python code "
                    "(trust_remote_code), which is off by default",
                    "read the model's .py files, then opt in for this model with "
                    "--trust-remote-code (or the trust key in the console)")
            self.log("warning", f"running the model's own code from {path} "
                     "(trust_remote_code was enabled for this model)", reply_to)
        if not isinstance(model_type, str):
            raise UnknownArchitecture(f"{path / 'config.json'} has no model_type",
                                      "the config.json is not a transformers model config")
        known = model_type in configuration_auto.CONFIG_MAPPING_NAMES  # type: ignore[attr-defined]
        if not known and not auto_map:
            raise UnknownArchitecture(
                f"model_type {model_type!r} is not known to the installed transformers "
                f"{tf.__version__}",
                "upgrade transformers (pip install -U transformers), or check config.json")
        if model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            return tf.AutoModelForCausalLM, model_type
        if model_type in modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            return tf.AutoModelForImageTextToText, model_type
        if "AutoModelForCausalLM" in auto_map:
            return tf.AutoModelForCausalLM, model_type
        if "AutoModelForImageTextToText" in auto_map:
            return tf.AutoModelForImageTextToText, model_type
        raise UnknownArchitecture(
            f"model_type {model_type!r} ({', '.join(config_dict.get('architectures') or [])}) is "
            f"neither a causal LM nor an image-text-to-text model in transformers "
            f"{tf.__version__}", "this console drives text generation models")

    def _job_load(self, msg: dict[str, Any]) -> None:
        if self.loaded is not None:
            self._job_unload({"id": msg["id"], "cmd": "unload"}, final=False)
        reply_to = msg["id"]
        t_command = time.perf_counter()
        self.abort_load.clear()
        self.rss_baseline = rss_bytes()
        from console.worker.demo import DEMO_LABEL, DEMO_NAME

        label = DEMO_LABEL if msg["model"] == DEMO_NAME else msg["model"]
        self.set_state("loading", reply_to, model=msg["model"], label=label)
        # The guard watches from now (pause / abort are accepted from the first moment; the
        # monitor reports a stall) until the weights are placed.
        self._load_tracker: LoadTracker | None = None
        self.guard.begin(reply_to, self._load_progress)
        tb_text = ""
        failure: BaseException | None = None
        aborted_figures: dict[str, Any] | None = None
        try:
            self._load(msg, t_command)
        except EngineError as exc:
            if isinstance(exc, LoadAborted):
                aborted_figures = self.figures()  # what the load placed (its frames still live)
            failure = _strip(exc)
        except BaseException as exc:
            # Keep the text only, and cut the exception from its frames now: they hold the
            # half-loaded model's tensors, which nothing could free otherwise.
            tb_text = traceback.format_exc()
            failure = _strip(exc)
        finally:
            self.guard.end()
        if failure is not None:
            # Tracebacks also go to stderr: raw lines for the log pane and the session log.
            if tb_text:
                sys.stderr.write(tb_text)
            else:
                sys.stderr.write(f"{failure.__class__.__name__}: {failure}\n")
            sys.stderr.flush()
            self.loaded = None
            if aborted_figures is not None:
                # An abort proves itself like an unload: everything the load placed is freed
                # and the engine is back at its baseline (`unloaded` says how close).
                self._job_unload({"id": reply_to, "cmd": "unload"}, final=False,
                                 before=aborted_figures)
            else:
                self._release()
            self._job_finishing()
            self._error(reply_to, "load", failure, tb_text)
            failure = None
            self.set_state("idle" if aborted_figures is not None else "error", reply_to)

    def _load(self, msg: dict[str, Any], t_command: float) -> None:
        torch = self.torch
        tf = self.transformers
        reply_to = msg["id"]
        dtype_name = str(msg.get("dtype") or "auto").lower()
        if dtype_name not in DTYPES:
            raise BadCommand(f"dtype {dtype_name!r} is not one of {', '.join(DTYPES)}")
        device = str(msg.get("device") or "cpu")
        if not _DEVICE_RE.match(device):
            raise BadCommand(f"device {device!r} is not cpu, auto, cuda or cuda:N")
        trust = bool(msg.get("trust_remote_code", False))
        allow_pickle = bool(msg.get("allow_pickle", False))
        allow_download = bool(msg.get("allow_download", False))
        from console.host import loadspeed
        from console.worker import fastload

        loader_options = _loader_options(msg)
        for key in ("context", "batch"):
            value = msg.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise BadCommand(f"{key} {value!r} is not a whole number >= 1")
        if msg.get("guard") is not None:
            from console.worker.loadguard import GuardSettings, parse_settings

            try:  # a load's guard settings start from the defaults, not the last load's
                self.guard.configure(parse_settings(msg["guard"], GuardSettings()))
            except ValueError as exc:
                raise BadCommand(str(exc)) from None

        path, label = self._resolve(msg["model"], allow_download)
        config_path = path / "config.json"
        if not config_path.is_file():
            raise NoWeights(f"{path} has no config.json", "a model directory holds config.json "
                            "and weights (*.safetensors)")
        try:
            config_dict = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise EngineError(f"{config_path}: invalid JSON at line {exc.lineno} column "
                              f"{exc.colno}: {exc.msg}") from None
        files = weight_files(path)
        if not files:
            raise NoWeights(f"{path} has no weights (*.safetensors or pytorch_model*.bin)",
                            "the download may be incomplete: fetch the weights again")
        if any(p.suffix == ".bin" for p in files):
            self.log("warning" if allow_pickle else "info",
                     ".bin pickle checkpoint: loading with full unpickling (opted in)"
                     if allow_pickle else ".bin pickle checkpoint: loading with "
                     "weights_only=True", reply_to)
        model_cls, model_type = self._model_class(path, config_dict, trust, reply_to)
        gate = self._preload_gate(msg, path, dtype_name=dtype_name, device=device, trust=trust,
                                  allow_pickle=allow_pickle, reply_to=reply_to)
        # The stock path for what the fast loader does not reproduce exactly (known so far;
        # inside from_pretrained it checks the keys against the model too).
        not_fast = fastload.precheck(files, config_dict, device, loader_options.loader)
        cache_total, cache_cached = loadspeed.cache_state(files)
        if cache_cached is not None and cache_total:  # the fast loader's warm / cold profile
            loader_options.cached_fraction = min(1.0, cache_cached / cache_total)

        kwargs: dict[str, Any] = {
            "dtype": DTYPES[dtype_name] if dtype_name == "auto" else getattr(torch, DTYPES[dtype_name]),
            "trust_remote_code": trust,
            "weights_only": not allow_pickle,
            "local_files_only": True,
        }
        if device == "auto":
            kwargs["device_map"] = "auto"
            if msg.get("max_memory"):
                kwargs["max_memory"] = {int(k) if str(k).isdigit() else k: v
                                        for k, v in dict(msg["max_memory"]).items()}
        else:
            kwargs["device_map"] = device
        if msg.get("attn_implementation"):
            kwargs["attn_implementation"] = msg["attn_implementation"]

        cuda_targets: list[int] = []
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise EngineError(f"device {device!r}: torch {torch.__version__} sees no CUDA GPU",
                                  "use --device cpu, or install a CUDA build of torch")
            cuda_targets = [int(device.split(":")[1]) if ":" in device else 0]
        elif device == "auto" and torch.cuda.is_available():
            cuda_targets = list(range(torch.cuda.device_count()))
        t_context = time.perf_counter()
        for index in cuda_targets:
            self._ensure_context(index)
        context_s = time.perf_counter() - t_context  # CUDA context creation (first load only)

        tracker = LoadTracker(self.emit, reply_to, files, self.before_tensor)
        tracker.report(force=True)
        t_weights = time.perf_counter()
        pickle_ctx = _full_unpickling() if allow_pickle and any(
            p.suffix == ".bin" for p in files) else contextlib.nullcontext()
        try:
            with self._guarded(reply_to, tracker, device) as placement, tracker.installed(), \
                    pickle_ctx, fastload.installed(loader_options, tracker.step_exact,
                                                   not_fast) as outcome:
                tracker.outcome = outcome
                model = model_cls.from_pretrained(str(path), **kwargs)
        except fastload.FastLoadUnavailable as exc:
            raise LoaderUnavailable(str(exc), "load with loader auto (falls back to the stock "
                                    "path) or stock") from None
        except fastload.CheckpointBroken as exc:
            raise PreflightFailed(str(exc), "the file is damaged: download it again") from None
        weights_s = time.perf_counter() - t_weights
        tracker.end()
        cached_fraction = (cache_cached / cache_total
                           if cache_cached is not None and cache_total else None)
        loadspeed.record(outcome.loader or "stock", "cuda" if cuda_targets else "cpu",
                         cached_fraction=cached_fraction, nbytes=tracker.bytes_total,
                         seconds=weights_s)
        model.eval()
        tokenizer = None
        try:
            tokenizer = tf.AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust,
                                                         local_files_only=True)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            self.log("warning", f"no tokenizer for {path}: the model is loaded, the prompt is "
                     f"off (add the tokenizer files to generate) [{type(exc).__name__}: "
                     f"{first}]", reply_to)
        load_s = time.perf_counter() - t_command

        used_devices = sorted({str(p.device) for p in model.parameters()})
        for dev in used_devices:
            if dev.startswith("cuda"):
                self._ensure_context(int(dev.split(":")[1]) if ":" in dev else 0)
        param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        params = sum(p.numel() for p in model.parameters())
        dtype = str(model.dtype).replace("torch.", "")
        info = {
            "model": msg["model"], "path": str(path), "label": label, "model_type": model_type,
            "model_class": type(model).__name__, "dtype": dtype, "device": device,
            "devices": used_devices, "params": params, "param_bytes": param_bytes,
            "kv_bytes_per_token": kv_bytes_per_token(model.config, model.dtype.itemsize),
            "has_tokenizer": tokenizer is not None,
            "chat_template": bool(getattr(tokenizer, "chat_template", None)),
            "trust_remote_code": trust, "progress_method": tracker.method,
            "kv_bytes_per_token_estimate": gate.kv_bytes_per_token,
            "estimate_peak_bytes": gate.result.estimate.peak_bytes
            if gate.result.estimate is not None else None,
            "loader": outcome.loader, "fallback_reason": outcome.fallback_reason,
            "fast_load": outcome.to_dict() if outcome.loader == "fast" else None,
            "page_cache_fraction": cached_fraction,
            "rate_bytes_per_s": tracker.bytes_total / weights_s if weights_s > 0 else None,
            "guard": {"synchronous": placement.synchronous,
                      "warmup_patched": placement.warmup_patched,
                      "tensor_checks": self.guard.checks, **self.guard.settings.to_json_dict()},
        }
        self.loaded = Loaded(model, tokenizer, info, used_devices)
        del model, tokenizer
        # before the result: a command sent on seeing it must not be "busy"
        self._job_finishing()
        self.emit("loaded", reply_to, **info, load_s=load_s, weights_s=weights_s,
                  context_s=context_s,
                  tensors=tracker.tensors_done, bytes=tracker.bytes_total,
                  memory=self.figures())
        self.set_state("loaded", reply_to, model=msg["model"], label=label)

    def _preload_gate(self, msg: dict[str, Any], path: Path, *, dtype_name: str, device: str,
                      trust: bool, allow_pickle: bool, reply_to: int) -> Any:
        """Pre-flight + estimate before any weight is placed (console/worker/loadguard.py):
        a broken checkpoint raises PreflightFailed; one that will not fit raises WillNotFit
        unless the load has `force`. Emits `preflight` either way."""
        from console.worker.loadguard import preload_gate

        force = bool(msg.get("force", False))
        gate = preload_gate(
            msg["model"], path, dtype=DTYPES[dtype_name], device=device,
            context=msg.get("context"), batch=int(msg.get("batch") or 1),
            trust_remote_code=trust, allow_pickle=allow_pickle, force=force,
            settings=self.guard.settings, sample=self.guard.sample_now())
        self.emit("preflight", reply_to, **gate.event_fields())
        if gate.refusal is not None:
            error = PreflightFailed if gate.kind == "broken" else WillNotFit
            raise error(gate.refusal, gate.hint)
        if gate.forced:
            self.log("warning", f"loading anyway (force): {gate.result.fit.reason}", reply_to)
        return gate

    @contextlib.contextmanager
    def _guarded(self, reply_to: int, tracker: LoadTracker, device: str) -> Iterator[Any]:
        """Around one load's weights: tensor by tensor (console.worker.loadguard
        .tensor_by_tensor) unless the guard is disabled, each tensor's device known to the
        hooks; the guard (begun by _job_load) ends when the weights are placed."""
        from console.worker import loadguard

        default = loadguard.default_device(device, bool(self.torch.cuda.is_available()))
        ctx: Any = (loadguard.tensor_by_tensor(default) if self.guard.settings.enabled
                    else contextlib.nullcontext(loadguard.Placement(default)))
        with ctx as placement:
            tracker.device_for = placement.device_for
            self._load_tracker = tracker
            try:
                yield placement
            finally:
                self.guard.end()  # the weights are placed (or the load failed)

    def _load_progress(self) -> tuple[int, int, str | None]:
        """(bytes done, tensors done, file being read) of the running load, for the guard."""
        tracker = getattr(self, "_load_tracker", None)
        if tracker is None:
            return 0, 0, None
        return tracker.bytes_done, tracker.tensors_done, tracker.current_file

    # ---- unload
    def _release(self) -> None:
        """Drop every reference we hold and return memory to the OS / driver."""
        self.loaded = None
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

    def _job_unload(self, msg: dict[str, Any], final: bool = True,
                    before: dict[str, Any] | None = None) -> None:
        """Unload and prove it. `before`: figures taken earlier (an aborted load's, taken
        while its tensors were still alive), else now."""
        reply_to = msg["id"]
        self.set_state("unloading", reply_to)
        t0 = time.perf_counter()
        before = before if before is not None else self.figures()
        had_model = self.loaded is not None
        model_ref = weakref.ref(self.loaded.model) if self.loaded is not None else None
        label = self.loaded.info["label"] if self.loaded is not None else None
        self._release()
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
    def _job_generate(self, msg: dict[str, Any]) -> None:
        reply_to = msg["id"]
        self.set_state("generating", reply_to)
        tb_text = ""
        failure: BaseException | None = None
        try:
            self._generate(msg)
        except EngineError as exc:
            failure = _strip(exc)
        except BaseException as exc:
            tb_text = traceback.format_exc()
            failure = _strip(exc)  # frames would pin the KV cache
        if failure is not None:
            if tb_text:
                sys.stderr.write(tb_text)
                sys.stderr.flush()
            self._job_finishing()
            self._error(reply_to, "generate", failure, tb_text)
            failure = None
            for name in ("last_type", "last_value", "last_traceback", "last_exc"):
                if hasattr(sys, name):
                    setattr(sys, name, None)
            gc.collect()
        self.set_state("loaded" if self.loaded is not None else "idle", reply_to)

    def _generate(self, msg: dict[str, Any]) -> None:
        torch = self.torch
        loaded = self.loaded
        if loaded is None:
            raise NotLoaded("generate: no model is loaded", "load a model first")
        tok = loaded.tokenizer
        if tok is None:
            raise NotLoaded("generate: the model has no tokenizer", "add tokenizer files")
        reply_to = msg["id"]
        prompt = msg["prompt"]
        max_new_tokens = int(msg.get("max_new_tokens") or 64)
        temperature = float(msg.get("temperature") or 0.0)
        top_p = msg.get("top_p")
        seed = msg.get("seed")
        use_chat = bool(msg.get("chat", True)) and bool(getattr(tok, "chat_template", None))
        if use_chat:
            enc = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                          add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
        else:
            enc = tok(prompt, return_tensors="pt")
        model = loaded.model
        enc = {k: v.to(model.device) for k, v in enc.items()}
        prompt_tokens = int(enc["input_ids"].shape[-1])
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            kwargs["temperature"] = temperature
            if top_p is not None:
                kwargs["top_p"] = float(top_p)
        if msg.get("min_new_tokens"):
            kwargs["min_new_tokens"] = int(msg["min_new_tokens"])
        if getattr(model.generation_config, "pad_token_id", None) is None:
            kwargs["pad_token_id"] = tok.pad_token_id if tok.pad_token_id is not None \
                else tok.eos_token_id
        if seed is not None:
            torch.manual_seed(int(seed))
        streamer = _EventStreamer(self.emit, reply_to, tok, loaded.info["kv_bytes_per_token"],
                                  prompt_tokens)
        from transformers import StoppingCriteriaList

        stop = _StopOnFlag(self.stop_generation)
        kv_per_token = loaded.info.get("kv_bytes_per_token_estimate") or \
            loaded.info["kv_bytes_per_token"]
        guard_stop = _StopOnGuard(self.guard, str(model.device), kv_per_token, prompt_tokens)
        t0 = time.perf_counter()
        streamer.t0 = t0
        with torch.inference_mode():
            out = model.generate(**enc, streamer=streamer, stopping_criteria=StoppingCriteriaList(
                [stop, guard_stop]), return_dict_in_generate=True, **kwargs)
        total_s = time.perf_counter() - t0
        kv_measured = cache_tensor_bytes(getattr(out, "past_key_values", None))
        new_ids = out.sequences[0, prompt_tokens:].tolist()
        del out  # drop the KV cache now
        n = len(new_ids)
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if self.stop_generation.is_set():
            stopped = "stop"
        elif guard_stop.figures is not None:
            stopped = "guard"
            self.log("warning", guard_stop.figures["why"], reply_to)
        elif new_ids and new_ids[-1] in eos_ids:
            stopped = "eos"
        else:
            stopped = "length"
        ttft = streamer.t_first - t0 if streamer.t_first is not None else None
        decode_tps = None
        if streamer.t_first is not None and streamer.t_last is not None and n > 1 \
                and streamer.t_last > streamer.t_first:
            decode_tps = (n - 1) / (streamer.t_last - streamer.t_first)
        per_token = loaded.info["kv_bytes_per_token"]
        self._job_finishing()
        self.emit("generated", reply_to, tokens=n, prompt_tokens=prompt_tokens, ttft_s=ttft,
                  total_s=total_s, tokens_per_s=n / total_s if total_s > 0 else None,
                  decode_tokens_per_s=decode_tps, kv_cache_bytes=kv_measured,
                  kv_cache_bytes_estimate=per_token * (prompt_tokens + n) if per_token else None,
                  stopped=stopped, text=tok.decode(new_ids, skip_special_tokens=True),
                  output_ids=new_ids, chat_template=use_chat, memory=self.figures(),
                  guard=guard_stop.figures)

    # ---- fingerprint (parity checks)
    def _job_fingerprint(self, msg: dict[str, Any]) -> None:
        """sha256 of the loaded model's tensors (parameters and buffers, non-persistent ones
        included) and of its logits on `input_ids`: compared with a plain `from_pretrained`
        by the tests and gpu/check_guard.py (console/worker/parity.py)."""
        reply_to = msg["id"]
        try:
            from console.worker.parity import fingerprint

            if self.loaded is None:
                raise NotLoaded("fingerprint: no model is loaded", "load a model first")
            names = msg.get("tensors")
            ids = msg.get("input_ids")
            result = fingerprint(self.loaded.model, names=list(names) if names else None,
                                 input_ids=[int(i) for i in ids] if ids else None)
            self._job_finishing()
            self.emit("fingerprint", reply_to, **result)
        except BaseException as exc:
            tb_text = "" if isinstance(exc, EngineError) else traceback.format_exc()
            self._job_finishing()
            self._error(reply_to, "fingerprint", _strip(exc), tb_text)


def _loader_options(msg: dict[str, Any]) -> Any:
    """The load's `loader` ("auto" | "fast" | "stock") and `loader_options` (method, threads,
    chunk_bytes, window, readahead_bytes: console/worker/fastload.py) as fastload.Options;
    BadCommand if wrong."""
    from console.worker import fastload

    extra = msg.get("loader_options") or {}
    if not isinstance(extra, dict):
        raise BadCommand("loader_options must be an object")
    known = {"method", "threads", "chunk_bytes", "window", "readahead_bytes"}
    unknown = sorted(set(extra) - known)
    if unknown:
        raise BadCommand(f"loader_options: unknown key {unknown[0]!r}; known: "
                         f"{', '.join(sorted(known))}")
    options = fastload.Options(loader=str(msg.get("loader") or "auto"), **extra)
    try:
        options.validate()
    except ValueError as exc:
        raise BadCommand(str(exc)) from None
    return options


@contextlib.contextmanager
def _full_unpickling() -> Iterator[None]:
    """Honour the user's explicit --allow-pickle for this load: transformers 5.x accepts
    `weights_only=False` but does not pass it on to `load_state_dict` for .bin files."""
    import transformers.modeling_utils as mu

    original = getattr(mu, "load_state_dict", None)
    if original is None:
        yield
        return

    def load_state_dict(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = False
        return original(*args, **kwargs)

    mu.load_state_dict = load_state_dict
    try:
        yield
    finally:
        mu.load_state_dict = original


def _strip(exc: BaseException) -> BaseException:
    """Cut the exception loose from its frames (they pin tensors); keep message and hint."""
    text = str(exc)
    if not getattr(exc, "hint", "") and ("weights_only" in text or "Unpickl" in type(exc).__name__):
        with contextlib.suppress(AttributeError, TypeError):
            exc.hint = ("this .bin checkpoint needs full unpickling, which can run arbitrary "  # type: ignore[attr-defined]
                        "code: opt in for this model with --allow-pickle only if you trust it")
    exc.__traceback__ = None
    exc.__context__ = None
    exc.__cause__ = None
    return exc


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


class _StopOnGuard:
    """A StoppingCriteria that stops generation cleanly ("stopped by guard") when the KV cache
    growth of the next GENERATION_CHECK_EVERY_TOKENS tokens would take the model's device to
    its pause level. Checks at the first token and every that many tokens after."""

    def __init__(self, load_guard: Any, device: str, kv_bytes_per_token: int | None,
                 prompt_tokens: int) -> None:
        from console.worker.loadguard import GENERATION_CHECK_EVERY_TOKENS

        self.guard = load_guard
        self.device = device
        self.per_token = kv_bytes_per_token or 0
        self.prompt_tokens = prompt_tokens
        self.every = GENERATION_CHECK_EVERY_TOKENS
        self.next_check = 0
        self.figures: dict[str, Any] | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        generated = int(input_ids.shape[-1]) - self.prompt_tokens
        if self.figures is None and self.per_token and generated >= self.next_check:
            self.next_check = generated + self.every
            growth = self.per_token * int(input_ids.shape[0]) * self.every
            self.figures = self.guard.generation_check(self.device, growth)
            if self.figures is not None:
                self.figures["tokens"] = generated
        return torch.full((input_ids.shape[0],), self.figures is not None, dtype=torch.bool,
                          device=input_ids.device)


class _StopOnFlag:
    """A StoppingCriteria that ends generation when the engine's stop flag is set."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.flag.is_set(), dtype=torch.bool,
                          device=input_ids.device)


class _EventStreamer:
    """A transformers streamer that emits one `token` event per generated token, with the text
    that token adds (incremental detokenization: multi-byte characters wait for completion)."""

    def __init__(self, emit: Emit, reply_to: int, tokenizer: Any, kv_per_token: int | None,
                 prompt_tokens: int) -> None:
        self.emit = emit
        self.reply_to = reply_to
        self.tok = tokenizer
        self.kv_per_token = kv_per_token
        self.prompt_tokens = prompt_tokens
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0
        self.prompt_seen = False
        self.t0 = 0.0
        self.t_first: float | None = None
        self.t_last: float | None = None

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        self.t_last = now
        new = [int(x) for x in value.reshape(-1).tolist()]
        self.ids.extend(new)
        prefix = self.tok.decode(self.ids[self.prefix_offset:self.read_offset],
                                 skip_special_tokens=True)
        full = self.tok.decode(self.ids[self.prefix_offset:], skip_special_tokens=True)
        delta = ""
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            delta = full[len(prefix):]
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
        n = len(self.ids)
        kv = self.kv_per_token * (self.prompt_tokens + n) if self.kv_per_token else None
        self.emit("token", self.reply_to, text=delta, token_ids=new, index=n - 1,
                  elapsed_s=now - self.t0, kv_cache_bytes=kv)

    def end(self) -> None:
        pass


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.worker.worker")
    parser.add_argument("--commands-fd", type=int, required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    args = parser.parse_args(argv)
    # Never download unless the app started us with downloads allowed.
    if os.environ.get("AUTOGLM_ENGINE_ALLOW_DOWNLOAD") != "1":
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    events_out = os.fdopen(args.events_fd, "wb", buffering=0)
    commands_in = os.fdopen(args.commands_fd, "rb")
    emit = EventWriter(events_out)
    engine = Engine(emit)
    engine.hello()
    engine.set_state("idle")
    for raw in commands_in:
        try:
            msg = protocol.decode(raw)
            if "cmd" not in msg:
                raise protocol.ProtocolError("the engine takes commands, not events")
        except protocol.ProtocolError as exc:
            engine._error(None, "?", BadCommand(str(exc)))
            continue
        try:
            engine.handle(msg)
        except Exception as exc:  # a bug in a quick command must not end the engine
            engine._error(msg.get("id"), msg.get("cmd", "?"), _strip(exc),
                          traceback.format_exc())
    os._exit(0)  # the app closed the pipe: leave at once, the OS frees everything


if __name__ == "__main__":
    sys.exit(main())
