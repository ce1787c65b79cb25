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
import gc
import json
import os
import queue
import re
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing_extensions import assert_never

from console.core import protocol
from console.core.units import fmt_bytes
from console.worker.errors import (
    BadCommand,
    Busy,
    EngineError,
    LoadAborted,
    LoaderUnavailable,
    ModelNotFound,
    NotLoaded,
    NoWeights,
    PreflightFailed,
    RemoteCodeRefused,
    ResumeRefused,
    UnknownArchitecture,
    WillNotFit,
    _strip,
)
from console.worker.events import Emit, EventWriter
from console.worker.generate import _EventStreamer, _StopOnFlag, _StopOnGuard
from console.worker.hooks import TensorStep
from console.worker.memory import (
    BASELINE_TOLERANCE_BYTES,
    EngineNvml,
    _unload_accounting,
    cache_tensor_bytes,
    malloc_trim,
    rss_bytes,
)
from console.worker.progress import LoadTracker, weight_files

UNLOAD_WATCH_S = 5.0
DTYPES = {"auto": "auto", "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16",
          "float16": "float16", "half": "float16", "fp32": "float32", "float32": "float32"}
_DEVICE_RE = re.compile(r"^(cpu|auto|cuda|cuda:\d+)$")


# --------------------------------------------------------------------------- the engine


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    info: dict[str, Any]
    devices: list[str] = field(default_factory=list)  # "cuda:0", ... or ["cpu"]


def kv_bytes_per_token(config: dict[str, Any], dtype: str) -> int | None:
    """The KV cache's bytes per token for `config` at `dtype` ("bfloat16", ...): the estimate's
    formula (multi_query_group_num / kv_channels included), None for a config it cannot read."""
    from console.core.estimate import EstimateError, dtype_code, geometry
    from console.core.estimate import kv_bytes_per_token as estimate_kv

    try:
        return estimate_kv(geometry(config), dtype_code(dtype))
    except (EstimateError, KeyError, TypeError, ValueError):
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

    def _job_load(self, msg: protocol.Load) -> None:
        if self.loaded is not None:
            self._job_unload(protocol.make_command(protocol.Unload, msg.id), final=False)
        reply_to = msg.id
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
                self._job_unload(protocol.make_command(protocol.Unload, reply_to), final=False,
                                 before=aborted_figures)
            else:
                self._release()
            self._job_finishing()
            self._error(reply_to, "load", failure, tb_text)
            failure = None
            self.set_state("idle" if aborted_figures is not None else "error", reply_to)

    def _load(self, msg: protocol.Load, t_command: float) -> None:
        torch = self.torch
        tf = self.transformers
        reply_to = msg.id
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
                                  "set the device field to cpu (--device cpu), or install a CUDA build of torch")
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
            self.log("warning", f"no tokenizer for {path}: {type(exc).__name__}: {exc} "
                     "(the model is loaded; generation needs a tokenizer)", reply_to)
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
            "kv_bytes_per_token": kv_bytes_per_token(config_dict, dtype),
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

    def _preload_gate(self, msg: protocol.Load, path: Path, *, dtype_name: str, device: str,
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

    def _job_unload(self, msg: protocol.Unload | protocol.AnyCommand, final: bool = True,
                    before: dict[str, Any] | None = None) -> None:
        """Unload and prove it. `before`: figures taken earlier (an aborted load's, taken
        while its tensors were still alive), else now."""
        reply_to = msg.id
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
    def _job_generate(self, msg: protocol.Generate) -> None:
        reply_to = msg.id
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

    def _generate(self, msg: protocol.Generate) -> None:
        torch = self.torch
        loaded = self.loaded
        if loaded is None:
            raise NotLoaded("generate: no model is loaded", "load a model first")
        tok = loaded.tokenizer
        if tok is None:
            raise NotLoaded("generate: the model has no tokenizer", "add tokenizer files")
        reply_to = msg.id
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
    def _job_fingerprint(self, msg: protocol.Fingerprint) -> None:
        """sha256 of the loaded model's tensors (parameters and buffers, non-persistent ones
        included) and of its logits on `input_ids`: compared with a plain `from_pretrained`
        by the tests and gpu/check_guard.py (console/worker/parity.py)."""
        reply_to = msg.id
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


def _loader_options(msg: protocol.Load) -> Any:
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
