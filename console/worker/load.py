"""The load job: resolve the model, the pre-load gate, the guarded from_pretrained (fast or
stock loader), the `loaded` event."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from console.core import protocol
from console.worker.base import DEVICE_RE, DTYPES, EngineParts, Loaded, kv_bytes_per_token
from console.worker.errors import (
    BadCommand,
    EngineError,
    LoadAborted,
    LoaderUnavailable,
    ModelNotFound,
    NoWeights,
    PreflightFailed,
    RemoteCodeRefused,
    UnknownArchitecture,
    WillNotFit,
    _strip,
)
from console.worker.memory import (
    rss_bytes,
)
from console.worker.progress import LoadTracker, weight_files


class LoadJob(EngineParts):
    """The engine's load job (a part of `console.worker.worker.Engine`)."""

    def _resolve(self, name: str, allow_download: bool) -> tuple[Path, str]:
        from console.core import hfcache
        from console.worker import demo

        if name == demo.DEMO_NAME:
            self.log("info", "preparing the demo model (random weights)")
            return demo.ensure(), demo.DEMO_LABEL
        from console.worker import demo_vl  # issue 16: the vision demo

        if name == demo_vl.DEMO_VL_NAME:
            self.log("info", "preparing the vision demo model (random weights)")
            return demo_vl.ensure(), demo_vl.DEMO_VL_LABEL
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
                    "--trust-remote-code (the trust_remote_code checkbox in the console)")
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
        self.abort_figures = None
        self.rss_baseline = rss_bytes()
        from console.worker.demo import DEMO_LABEL, DEMO_NAME
        from console.worker.demo_vl import DEMO_VL_LABEL, DEMO_VL_NAME

        label = {DEMO_NAME: DEMO_LABEL, DEMO_VL_NAME: DEMO_VL_LABEL}.get(msg["model"],
                                                                          msg["model"])
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
                # what the load placed, taken as the abort was raised
                aborted_figures = self.abort_figures or self.figures()
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
        if not DEVICE_RE.match(device):
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
            "dtype": (DTYPES[dtype_name] if dtype_name == "auto"
                      else getattr(torch, DTYPES[dtype_name])),
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
                                  "set the device field to cpu (--device cpu), or install a CUDA "
                                  "build of torch")
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
            "kv_bytes_per_token": kv_bytes_per_token(config_dict, dtype),
            "has_tokenizer": tokenizer is not None,
            "chat_template": bool(getattr(tokenizer, "chat_template", None)),
            "trust_remote_code": trust, "progress_method": tracker.method,
            "kv_bytes_per_token_estimate": gate.kv_bytes_per_token,
            "estimate_peak_bytes": gate.peak_bytes,
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
        from console.worker.loadguard import preload_gate, recheck_gate

        force = msg.force
        sample = self.guard.sample_now()
        # Pre-flight once per load: the app's pre-flight (headers, estimate) stands; only the
        # memory free now is checked again. Without it (the CLI, tests) the full gate runs.
        gate = (recheck_gate(msg.preflight, force=force, settings=self.guard.settings,
                             sample=sample) if msg.preflight else None)
        if gate is None:
            gate = preload_gate(
                msg.model, path, dtype=DTYPES[dtype_name], device=device,
                context=msg.context, batch=int(msg.batch or 1),
                trust_remote_code=trust, allow_pickle=allow_pickle, force=force,
                settings=self.guard.settings, sample=sample)
        self.emit("preflight", reply_to, **gate.event_fields())
        if gate.refusal is not None:
            error = PreflightFailed if gate.kind == "broken" else WillNotFit
            raise error(gate.refusal, gate.hint)
        if gate.forced:
            self.log("warning", f"loading anyway (force): {gate.reason}", reply_to)
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
