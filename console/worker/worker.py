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
import gc
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from typing_extensions import assert_never

from console.core import protocol
from console.worker.base import DTYPES, Loaded, kv_bytes_per_token
from console.worker.errors import (
    BadCommand,
    Busy,
    LoadAborted,
    NotLoaded,
    ResumeRefused,
    _strip,
)
from console.worker.events import Emit, EventWriter
from console.worker.generate_job import GenerateJob
from console.worker.hooks import TensorStep
from console.worker.load import LoadJob
from console.worker.memory import (
    EngineNvml,
    fix_malloc_thresholds,
    malloc_trim,
    rss_bytes,
)
from console.worker.unload import UnloadJob

__all__ = ["DTYPES", "Engine", "EventWriter", "Loaded", "kv_bytes_per_token", "main"]

class Engine(LoadJob, UnloadJob, GenerateJob):
    """The engine: the command loop's answers, the job queue and thread, the memory figures;
    the jobs themselves are in console/worker/load.py, unload.py and generate_job.py."""

    def __init__(self, emit: Emit, malloc_fixed: bool = False) -> None:
        """`malloc_fixed`: whether main() fixed glibc's thresholds (memory.fix_malloc_thresholds),
        reported in hello."""
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
        self._processor: tuple[Loaded, Any, str] | None = None  # issue 16: (for, processor, how)
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
        self.guard = LoadGuard(emit, self._device_memory, aborted_error=self._aborted)
        # What the aborted load had placed, taken where the abort is raised: the unwinding
        # frees part of it (read buffers, the loader's frames) before the job sees the error.
        self.abort_figures: dict[str, Any] | None = None
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
        self.malloc_fixed = malloc_fixed
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
                  rss_bytes=self.rss_baseline, malloc_fixed=self.malloc_fixed)

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
        return {"devices": devices, "rss_bytes": rss_bytes(),
                "rss_baseline_bytes": self.rss_baseline}

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
            raise self._aborted(f"load aborted before tensor {step.index + 1}/{step.total}")

    def _aborted(self, message: str) -> LoadAborted:
        """The error that stops an aborted load, with the figures of what it placed."""
        self.abort_figures = self.figures()
        return LoadAborted(message)

    # ---- command dispatch (main thread)
    def handle(self, cmd: protocol.AnyCommand) -> None:
        """Answer one typed command (main thread): quick ones at once, jobs queued."""
        msg_id = cmd.id
        name = cmd.NAME
        match cmd:
            case protocol.Ping():
                self.emit("pong", msg_id, state=self.state, sent_ts=cmd.sent_ts)
            case protocol.Gc():
                before = self.figures()
                collected = gc.collect()
                self.emit("gc", msg_id, collected=collected, before=before, after=self.figures())
            case protocol.EmptyCache():
                before = self.figures()
                if self.cuda_baseline:
                    self.torch.cuda.empty_cache()
                malloc_trim()
                self.emit("empty_cache", msg_id, before=before, after=self.figures())
            case protocol.MemoryReportCmd():
                report = self.figures()
                self.emit("memory_report", msg_id, **report, state=self.state)
            case protocol.StopGeneration():
                self.stop_generation.set()
                self.log("info", "stop requested", msg_id)
            case protocol.Abort():
                if self.job_kind != "load":
                    self._error(msg_id, name, NotLoaded("abort: no load is running"))
                else:
                    self.guard.abort()  # wakes a paused load at once
                    self.abort_load.set()  # after the guard's state, so either hook reports it
            case protocol.Pause():
                if self.job_kind != "load" or not self.guard.pause():
                    self._error(msg_id, name, NotLoaded("pause: no load is running"))
                else:
                    self.log("info", "pause requested: the load stops before its next tensor",
                             msg_id)
            case protocol.Resume():
                refusal = self.guard.resume(force=cmd.force, command_id=msg_id)
                if refusal is not None:
                    self._error(msg_id, name, ResumeRefused(
                        f"resume: {refusal}", "free memory (gc, empty_cache, unload, or end "
                        "another process), raise the threshold (set_thresholds), or resume with "
                        "force"))
            case protocol.SetThresholds():
                from console.worker.loadguard import parse_settings

                changes = {k: cmd.wire[k] for k in ("thresholds", "auto_resume", "stall_s",
                                                    "on_pause", "enabled") if k in cmd.wire}
                try:
                    self.guard.configure(parse_settings(changes, self.guard.settings))
                except ValueError as exc:
                    self._error(msg_id, name, BadCommand(f"set_thresholds: {exc}"))
                    return
                self.emit("guard", msg_id, **self.guard.status())
            case protocol.Fingerprint():
                self._start_job("fingerprint", cmd, self._job_fingerprint)
            case protocol.Behaviour():
                self._start_job("behaviour", cmd, self._job_behaviour)
            case protocol.Load():
                self._start_job("load", cmd, self._job_load)
            case protocol.Unload():
                self._start_job("unload", cmd, self._job_unload)
            case protocol.Generate():
                self._start_job("generate", cmd, self._job_generate)
            case protocol.Shutdown():
                self.stop_generation.set()
                self.abort_load.set()
                self.emit("bye", msg_id)
                os._exit(0)
            case _:
                assert_never(cmd)

    def _start_job(self, kind: str, msg: Any, target: Callable[[Any], None]
                   ) -> None:
        with self.lock:
            running = bool(self.job_kind)
            if running and kind == "unload" and self.job_kind == "generate":
                self.stop_generation.set()  # unload during generation: stop it, then unload
            elif running:
                self._error(msg.id, kind, Busy(
                    f"{kind}: the engine is busy ({self.job_kind} running)",
                    "wait for it to finish, stop the generation, or hard-unload"))
                return
            if kind == "generate" and self.loaded is None:
                self._error(msg.id, kind, NotLoaded("generate: no model is loaded",
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
    # freed host memory goes back to the OS (console/worker/memory.py)
    malloc_fixed = fix_malloc_thresholds()
    events_out = os.fdopen(args.events_fd, "wb", buffering=0)
    commands_in = os.fdopen(args.commands_fd, "rb")
    emit = EventWriter(events_out)
    engine = Engine(emit, malloc_fixed)
    engine.hello()
    engine.set_state("idle")
    for raw in commands_in:
        try:
            cmd = protocol.decode_command(raw)
        except protocol.ProtocolError as exc:  # logged (stderr) and answered, never fatal
            print(f"[protocol] dropped a command line: {exc}", file=sys.stderr, flush=True)
            engine._error(None, "?", BadCommand(str(exc)))
            continue
        try:
            engine.handle(cmd)
        except Exception as exc:  # a bug in a quick command must not end the engine
            engine._error(cmd.id, cmd.NAME, _strip(exc), traceback.format_exc())
    os._exit(0)  # the app closed the pipe: leave at once, the OS frees everything


if __name__ == "__main__":
    sys.exit(main())
