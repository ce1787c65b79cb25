"""The fast guarded loader: transformers' own `from_pretrained`, with the one step that moves
the weights replaced by a streaming loader of ours (issue 6; docs/engine.md "Fast loader").

Why inside `from_pretrained` rather than a model built by hand: everything around the weights
stays transformers' own code - the config, the "auto" dtype, building the model on the meta
device, the dtype plan (`_keep_in_fp32_modules`), the non-persistent buffers that
`_init_weights` recomputes (rotary `inv_freq`, in fp32 on the CPU), `tie_weights()`, `eval()`,
the generation config, the loading report. The model is therefore `from_pretrained`'s by
construction except for how the weight bytes travel, and those are compared bit for bit by
tests/engine/test_fastload.py and gpu/check_loader.py.

`installed(options, before_tensor)` swaps `PreTrainedModel._load_pretrained_model` for the
length of one `from_pretrained` call. The replacement first decides whether it reproduces this
checkpoint exactly (`build_plan`): safetensors only, one device, no quantizer, no remote code,
no tensor/pipeline parallelism, no key that transformers renames or converts for this model
(the `conversion_mapping` rules it resolved, applied to every checkpoint key the way
transformers applies them), no missing key other than tied weights, no unexpected key, same
shapes, dtypes it can cast. If not, it calls the original (the stock path) and records why in
`Outcome.fallback_reason`; with loader "fast" it raises `FastLoadUnavailable` instead.

The streaming itself (`stream`): tensors are placed one at a time in file order (shard by
shard, by offset: the disk reads sequentially when the cache is cold). For each tensor the
engine's per-tensor hooks run first (console/worker/hooks.py: they may block = pause, or
raise = abort); then its destination is allocated on the target device (so VRAM grows tensor
by tensor, and what the guard reads includes every tensor it approved), registered in the
model as transformers registers it (`set_param_for_module`), and cut into pieces of
`chunk_bytes` that N threads take from one queue. Up to `window` tensors are in flight
(DEFAULT_WINDOW): a tensor's hooks run before it is allocated, so a hook that blocks (pause)
stops every allocation after it at once, while the tensors already allocated finish their
copies (VRAM does not grow past the pause); with
`window=1` each tensor is complete (every copy finished) before the next tensor's hooks run.
Warm or cold: with less than COLD_FRACTION of the checkpoint in the page cache (the engine
measures it with mincore; `Options.cached_fraction`), one reader in file order (the disk is the
limit) and a read-ahead thread asking the kernel to read the files ahead of the copies
(`_Readahead`); warm, DEFAULT_THREADS readers and no read-ahead.
Methods to move the bytes:

- "staging" (b): each thread preads chunks into two reused staging buffers (pinned when the
  target is CUDA) and copies them with `non_blocking=True` on its own CUDA stream; an event per
  buffer says when it may be refilled, so the read of one chunk overlaps the copy of the last.
  Dtype casts happen on the device (a per-thread scratch buffer in the file dtype).
- "safe_open" (a): each thread keeps `safe_open(path, framework="pt", device=target)` handles
  and copies row ranges of `get_slice(name)`.
- "mmap" (c): the file mapped once; each thread copies its byte range from the mapping
  (`dest.copy_(view)`: a pageable host-to-device copy, what `.to(device)` does).
- "register" (d, CUDA only, experimental): each shard mapped and registered with CUDA as a
  whole (`cudaHostRegister`, read-only), then copied by DMA straight from the page cache.
  Registering pins (and, cold, reads) a whole shard ahead of its tensors' hooks: measured by
  benchmarks/load_speed.py, never picked by "auto".
- "direct" (CPU target only): preads straight into the destination tensor.
"auto" picks staging on CUDA; on the CPU direct, or mmap when tensors change dtype. On the CPU
with no cast, loader "auto" keeps the stock path (`CPU_REASON`).

Host RAM (CUDA target): the staging buffers are the only host memory the loader adds,
threads x 2 x chunk_bytes (warm 8 x 2 x 16 MiB = 256 MiB, cold 32 MiB), whatever the model
size; freed (and torch's pinned cache emptied) at the end. The checkpoint is read from the page
cache (the kernel's, reclaimable) and not mapped into the process. On the CPU the weights are
host memory themselves. `Outcome.rss_growth_bytes` reports the growth while streaming.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import mmap
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from console.core.hints import fixes_once
from console.core.preflight import read_safetensors_header
from console.worker.hooks import TensorStep, normalise_device

MIB = 1024**2
LOADERS = ("auto", "fast", "stock")
METHODS = ("auto", "staging", "safe_open", "mmap", "register", "direct")
# What "auto" picks: on CUDA the pinned staging path; on the CPU reads straight into place
# (or, when tensors change dtype, copies from the mapping: measured faster there).
DEFAULT_CUDA_METHOD = "staging"
DEFAULT_CPU_METHOD = "direct"
DEFAULT_CPU_CAST_METHOD = "mmap"
DEFAULT_THREADS = {"staging": 8, "safe_open": 4, "mmap": 8, "register": 8, "direct": 4}
# With a cold page cache the disk is the limit, and it streams fastest read in file order by one
# reader (with the read-ahead below keeping its queue full): see COLD_FRACTION.
COLD_THREADS = 1
# The checkpoint counts as cold when less than this fraction of it is in the page cache
# (measured with mincore before the load, console/host/loadspeed.py): then COLD_THREADS readers and
# the read-ahead; otherwise DEFAULT_THREADS and no read-ahead (the pages are there already).
COLD_FRACTION = 0.5
# The piece one thread reads and copies at once: tensors are cut into pieces of this size
# (whole elements), each thread reading one piece while the copy of its last runs (two staging
# buffers). On the H100 host, raw routes over the 8B's shards (gpu/probe_transport.py): 8
# threads x 16 MiB pieces moved 27-34 GB/s from the page cache to the GPU, 64 MiB 16 GB/s;
# cutting tensors into ~threads x 4 pieces of 1-4 MiB instead made 5x more pieces, and the
# 8B streamed in 1.5-2.5 s against 0.77-0.80 s with 16 MiB pieces (Python work per piece,
# under the GIL; docs/engine.md "Fast loader").
DEFAULT_CHUNK_BYTES = 16 * MIB
# Tensors in flight: the next tensors' hooks, allocation and reads overlap the copies of the
# ones before (1 = each tensor complete before the next hook: a barrier per tensor). On the
# H100 host, 8B bf16 warm, one run each through the engine: window 1 without read-ahead
# 2.11 s, 4: 2.23 s (median of 2), 8: 2.07 s, 16: 1.87 s (benchmarks/load_speed.py; session 2,
# with the 1-4 MiB pieces of then).
DEFAULT_WINDOW = 16
# Read-ahead (cold page cache only, unless set): the kernel is asked (posix_fadvise WILLNEED) to
# read the checkpoint this far beyond the tensors being copied, in file order, so the disk
# streams sequentially while the copies of what has arrived run. 0 = off.
DEFAULT_READAHEAD_BYTES = 512 * MIB
READAHEAD_STEP_BYTES = 16 * MIB
CUDA_HOST_REGISTER_READ_ONLY = 8  # cudaHostRegisterReadOnly

# safetensors dtype code -> torch dtype (the ones this loader reads; others take the stock path)
TORCH_DTYPES: dict[str, torch.dtype] = {
    "BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}

BeforeTensor = Callable[[TensorStep], None]
# On the CPU, when no tensor changes dtype, transformers maps the safetensors file and uses its
# pages as the weights (no copy, file-backed): no streaming copy is faster (374 MB bf16 on the
# 2-core dev box: 0.03 s vs 0.16 s). With a cast both copy, and ours wins (bf16 -> fp32: stock
# 0.56 s, fast mmap x2 0.23 s), so `auto` streams to the CPU only then. `fast` always streams.
CPU_REASON = ("device cpu, no dtype cast: transformers maps the checkpoint into memory without "
              "copying, which a streaming copy cannot beat")


class FastLoadUnavailable(Exception):
    """The fast loader was required (loader "fast") but this load needs the stock path."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the fast loader cannot load this checkpoint: {reason}")
        self.reason = reason


class CheckpointBroken(ValueError):
    """A safetensors header is damaged (console.core.preflight's finding): nothing was placed."""


@dataclass
class Options:
    loader: str = "auto"  # auto | fast | stock
    method: str = "auto"  # see METHODS
    # None: by the page cache (cold: COLD_THREADS; else DEFAULT_THREADS[method]; CPU: at most
    # the core count)
    threads: int | None = None
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    window: int = DEFAULT_WINDOW  # tensors in flight (allocated, hooks run, being copied)
    # page-cache read-ahead; 0 = off; None: DEFAULT_READAHEAD_BYTES when cold, else off
    readahead_bytes: int | None = None
    # fraction of the checkpoint in the page cache before the load (the engine measures it
    # anyway); None: measured here when the threads or the read-ahead depend on it
    cached_fraction: float | None = None

    def validate(self) -> None:
        if self.loader not in LOADERS:
            raise ValueError(f"loader {self.loader!r} is not one of {', '.join(LOADERS)}")
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.cached_fraction is not None and not 0.0 <= self.cached_fraction <= 1.0:
            raise ValueError(f"cached_fraction must be within 0..1, not {self.cached_fraction!r}")
        for name, value, least in (("threads", self.threads, 1),
                                   ("chunk_bytes", self.chunk_bytes, 4096),
                                   ("window", self.window, 1),
                                   ("readahead_bytes", self.readahead_bytes, 0)):
            if value is None and name in ("threads", "readahead_bytes"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be a whole number >= {least}, not {value!r}")


@dataclass
class Outcome:
    """Which path loaded the model and why; filled in during the from_pretrained call."""

    loader: str | None = None  # "fast" | "stock"; None until decided
    fallback_reason: str | None = None
    method: str | None = None
    threads: int | None = None
    window: int | None = None
    chunk_bytes: int | None = None
    readahead_bytes: int | None = None
    cache: str | None = None  # "warm" | "cold" (below COLD_FRACTION) | None (unknown)
    cached_fraction: float | None = None
    staging_bytes: int = 0  # host memory the loader held for staging (the RSS bound)
    tensors: int = 0
    bytes: int = 0  # checkpoint bytes read
    stream_s: float | None = None  # seconds from the first tensor's hooks to the last byte
    # host RSS growth while streaming (peak over the tensors, /proc/self/statm; None where
    # unknown): all of it, and without file-backed pages - the staging buffers bound it
    rss_growth_bytes: int | None = None
    anon_growth_bytes: int | None = None
    reached: bool = False  # transformers called the hook point

    def to_dict(self) -> dict[str, Any]:
        return {"loader": self.loader, "fallback_reason": self.fallback_reason,
                "method": self.method, "threads": self.threads, "window": self.window,
                "chunk_bytes": self.chunk_bytes, "readahead_bytes": self.readahead_bytes,
                "cache": self.cache, "cached_fraction": self.cached_fraction,
                "staging_bytes": self.staging_bytes,
                "tensors": self.tensors, "bytes": self.bytes, "stream_s": self.stream_s,
                "rss_growth_bytes": self.rss_growth_bytes,
                "anon_growth_bytes": self.anon_growth_bytes}


# --------------------------------------------------------------------------- eligibility


def _cuda() -> Any:
    """`torch.cuda`, untyped: some torch builds' stubs leave Event/Stream/cudart unannotated."""
    return torch.cuda


def precheck(files: list[Path], config: dict[str, Any], device: str, loader: str) -> str | None:
    """Why the stock path must load this (known before from_pretrained starts), or None."""
    if loader == "stock":
        return "the stock loader was asked for"
    if not files:
        return "no weight files"
    pickles = [p.name for p in files if p.suffix != ".safetensors"]
    if pickles:
        return f"{pickles[0]}: .bin pickle checkpoints are read by transformers (torch.load)"
    quant = config.get("quantization_config")
    if quant:
        method = quant.get("quant_method", "?") if isinstance(quant, dict) else "?"
        return (f"quantized weights (quantization_config, {method}): transformers' quantizer "
                "loads them")
    if config.get("auto_map"):
        return "remote code (auto_map in config.json): the model's own code defines the weights"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        return (f"device {device!r}: spreading over devices or offloading (device_map) is "
                "done by transformers")
    return None


@dataclass(frozen=True)
class Item:
    """One checkpoint tensor to place: where its bytes are and what they become."""

    name: str
    path: Path
    offset: int  # absolute file offset of its first byte
    nbytes: int  # bytes in the file
    file_dtype: torch.dtype
    shape: tuple[int, ...]
    dtype: torch.dtype  # on the device
    device: torch.device

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def device_nbytes(self) -> int:
        return self.numel * self.dtype.itemsize


@dataclass
class Plan:
    items: list[Item]
    meta_keys: list[str]
    used_conversions: list[Any] = field(default_factory=list)


def _example(keys: set[str] | list[str]) -> str:
    first = sorted(keys)[:2]
    more = f" and {len(keys) - len(first)} more" if len(keys) > len(first) else ""
    return ", ".join(repr(k) for k in first) + more


def build_plan(model: Any, state_dict: Any, checkpoint_files: Any, load_config: Any,
               extra: dict[str, Any], *, loader: str = "fast"
               ) -> tuple[Plan | None, str | None]:
    """(plan, None) when the fast path reproduces this load exactly, else (None, reason).
    Raises CheckpointBroken when a header is damaged."""
    import transformers.modeling_utils as mu
    from transformers import core_model_loading as cml
    from transformers.integrations.accelerate import get_device

    if state_dict is not None:
        return None, "a state dict was passed instead of files"
    if any(v is not None for v in extra.values()):
        passed = ", ".join(k for k, v in extra.items() if v is not None)
        return None, f"from_pretrained passed {passed}"
    files = [Path(f) for f in checkpoint_files or []]
    if not files:
        return None, "no checkpoint files"
    pickles = [p.name for p in files if p.suffix != ".safetensors"]
    if pickles:
        return None, f"{pickles[0]}: .bin pickle checkpoints are read by transformers (torch.load)"
    quantizer = getattr(load_config, "hf_quantizer", None)
    if quantizer is not None:
        method = getattr(getattr(quantizer, "quantization_config", None), "quant_method", "?")
        return None, f"quantized weights ({method}): transformers' quantizer loads them"
    if getattr(load_config, "device_mesh", None) is not None:
        return None, "tensor parallelism (device_mesh)"
    for flag in ("is_deepspeed_zero3_enabled", "is_fsdp_enabled"):
        check = getattr(mu, flag, None)
        if check is not None and check():
            return None, f"{flag.removeprefix('is_').removesuffix('_enabled')} is active"
    if getattr(model, "_pp_stage", None) is not None:
        return None, "pipeline parallelism"
    if model.is_custom_code():
        return None, "remote code: the model's own code defines the weights"

    headers = []
    for path in files:
        header, findings = read_safetensors_header(path)
        errors = [f for f in findings if f.severity == "error"]
        if header is None or errors:
            raise CheckpointBroken("; ".join(fixes_once([(f.problem_line(), f.fix)
                                                         for f in errors]))
                                   or f"{path.name}: unreadable")
        headers.append((path, header))

    meta = model.state_dict()
    weight_mapping = list(getattr(load_config, "weight_mapping", None) or [])
    renamings = [e for e in weight_mapping if isinstance(e, cml.WeightRenaming)]
    converters = [e for e in weight_mapping if isinstance(e, cml.WeightConverter)]
    prefix = model.base_model_prefix
    ckpt_keys: set[str] = set()
    renamed: list[str] = []
    for _, header in headers:
        for spec in header.tensors:
            key = spec.name
            if key in ckpt_keys:
                return None, f"key {key!r} is in more than one shard"
            ckpt_keys.add(key)
            # exactly how convert_and_load_state_dict_in_model renames a key
            new_key, pattern = cml.rename_source_key(key, renamings, converters, prefix, meta)
            if new_key not in meta and key in meta:
                new_key, pattern = cml.rename_source_key(key, [], [], prefix, meta)
            if new_key != key or pattern is not None:
                renamed.append(f"{key!r} -> {new_key!r}")
    if renamed:
        return None, (f"transformers renames or converts checkpoint keys for "
                      f"{type(model).__name__} ({renamed[0]}"
                      f"{f' and {len(renamed) - 1} more' if len(renamed) > 1 else ''})")
    unexpected = ckpt_keys - set(meta)
    if unexpected:
        return None, f"unexpected keys in the checkpoint: {_example(unexpected)}"
    tied = set(getattr(model, "all_tied_weights_keys", {}) or {})
    missing = set(meta) - ckpt_keys - tied
    if missing:
        return None, f"keys missing from the checkpoint: {_example(missing)}"

    device_map = getattr(load_config, "device_map", None) or {"": "cpu"}
    dtype = getattr(load_config, "dtype", None)
    dtype_plan = getattr(load_config, "dtype_plan", None) or {}
    if dtype_plan:
        policy, policy_groups, _ = cml.build_glob_alternation(list(dtype_plan.keys()))
    items: list[Item] = []
    devices: set[str] = set()
    for path, header in headers:
        data_start = 8 + header.header_bytes
        for spec in header.tensors:
            file_dtype = TORCH_DTYPES.get(spec.dtype)
            if file_dtype is None:
                return None, (f"{spec.name!r} is stored as {spec.dtype}, which this loader does "
                              "not read")
            empty = meta[spec.name]
            if tuple(empty.shape) != tuple(spec.shape):
                return None, (f"{spec.name!r}: the checkpoint's shape {list(spec.shape)} is not "
                              f"the model's {list(empty.shape)}")
            # the target dtype, decided the way convert_and_load_state_dict_in_model decides it
            target = dtype
            match = policy.search(spec.name) if dtype_plan else None
            if match is not None:
                target = dtype_plan[policy_groups[str(match.lastgroup)]]
            elif empty.dtype != target:
                target = empty.dtype
            where = get_device(device_map, spec.name)
            if where == "disk" or str(where) == "meta":
                return None, f"{spec.name!r} is mapped to {where!r} (offload)"
            device = torch.device(get_device(device_map, spec.name, valid_torch_device=True))
            if device.type not in ("cpu", "cuda"):
                return None, f"device {device} is not cpu or cuda"
            devices.add(str(device))
            begin, end = header.data_offsets[spec.name]
            items.append(Item(spec.name, path, data_start + begin, end - begin, file_dtype,
                              tuple(spec.shape), target, device))
    if len(devices) > 1:
        return None, f"the model is spread over {', '.join(sorted(devices))}"
    if loader == "auto" and devices == {"cpu"} and all(it.dtype == it.file_dtype for it in items):
        return None, CPU_REASON
    # file order: shard by shard, by offset (sequential reads when the cache is cold)
    order = {path: i for i, path in enumerate(files)}
    items.sort(key=lambda it: (order[it.path], it.offset))
    used = [c for c in weight_mapping if getattr(c, "was_used", lambda: False)()]
    return Plan(items, list(meta), used), None


# --------------------------------------------------------------------------- the hook point


def _hook_point() -> tuple[Any, str | None]:
    """(the original staticmethod, None), or (None, why transformers offers no hook point)."""
    import transformers
    import transformers.modeling_utils as mu

    original = mu.PreTrainedModel.__dict__.get("_load_pretrained_model")
    want = ["model", "state_dict", "checkpoint_files", "load_config"]
    if not isinstance(original, staticmethod):
        return None, (f"transformers {transformers.__version__} has no "
                      "PreTrainedModel._load_pretrained_model to hook")
    params = list(inspect.signature(original.__func__).parameters)
    if params[:4] != want:
        return None, (f"transformers {transformers.__version__}: _load_pretrained_model takes "
                      f"({', '.join(params)}), not ({', '.join(want)}, ...)")
    return original, None


@contextlib.contextmanager
def installed(options: Options, before_tensor: BeforeTensor,
              precheck_reason: str | None = None) -> Iterator[Outcome]:
    """Make the next from_pretrained call in this process load through the fast path when it
    can (see the module docstring). Yields the Outcome, complete once the call returned."""
    options.validate()
    outcome = Outcome()
    reason = precheck_reason
    if reason is None and options.loader == "stock":
        reason = "the stock loader was asked for"
    original = None
    if reason is None:
        original, reason = _hook_point()
    if reason is not None:
        if options.loader == "fast":
            raise FastLoadUnavailable(reason)
        outcome.loader, outcome.fallback_reason = "stock", reason
        yield outcome
        return
    import transformers.modeling_utils as mu

    stock: Any = original.__func__  # type: ignore[union-attr]

    def replacement(model: Any, state_dict: Any, checkpoint_files: Any, load_config: Any,
                    *args: Any, **kwargs: Any) -> Any:
        outcome.reached = True
        extra = dict(zip(("expected_keys",), args, strict=False)) | kwargs
        plan, why = build_plan(model, state_dict, checkpoint_files, load_config, extra,
                               loader=options.loader)
        if plan is None:
            if options.loader == "fast":
                raise FastLoadUnavailable(why or "?")
            outcome.loader, outcome.fallback_reason = "stock", why
            return stock(model, state_dict, checkpoint_files, load_config, *args, **kwargs)
        return stream(model, plan, options, before_tensor, outcome)

    base: Any = mu.PreTrainedModel
    base._load_pretrained_model = staticmethod(replacement)
    try:
        yield outcome
    finally:
        base._load_pretrained_model = original
    if not outcome.reached:
        why = "transformers did not call the fast loader's hook point (_load_pretrained_model)"
        if options.loader == "fast":
            raise FastLoadUnavailable(why)
        outcome.loader, outcome.fallback_reason = "stock", why


# --------------------------------------------------------------------------- streaming


def pick_method(method: str, device: torch.device, casts: bool = False) -> str:
    if method == "auto":
        if device.type == "cuda":
            return DEFAULT_CUDA_METHOD
        # a cast reads the mapping once into place; without one, preads straight into place
        return DEFAULT_CPU_CAST_METHOD if casts else DEFAULT_CPU_METHOD
    if method == "direct" and device.type != "cpu":
        raise ValueError("method 'direct' reads into host memory: the target must be the cpu")
    if method == "register" and device.type != "cuda":
        raise ValueError("method 'register' registers host pages with CUDA: the target must be "
                         "cuda")
    return method


def pick_threads(options: Options, method: str, device: torch.device, cold: bool = False) -> int:
    if options.threads is not None:
        return options.threads
    n = COLD_THREADS if cold else DEFAULT_THREADS[method]
    if device.type == "cpu":
        n = min(n, os.cpu_count() or 1)
    return n


def stream(model: Any, plan: Plan, options: Options, before_tensor: BeforeTensor,
           outcome: Outcome) -> tuple[Any, None]:
    """Place every planned tensor into `model` (the body of our `_load_pretrained_model`)."""
    from transformers.core_model_loading import set_param_for_module
    from transformers.utils.loading_report import LoadStateDictInfo

    info = LoadStateDictInfo(missing_keys=set(plan.meta_keys), unexpected_keys=set(),
                             mismatched_keys=set(), conversion_errors={}, error_msgs=[],
                             skipped_pp_keys=set())
    device = plan.items[0].device if plan.items else torch.device("cpu")
    method = pick_method(options.method, device,
                         any(it.dtype != it.file_dtype for it in plan.items))
    paths = sorted({it.path for it in plan.items}, key=str)
    cached = options.cached_fraction
    if cached is None and (options.threads is None or options.readahead_bytes is None):
        from console.host.loadspeed import cache_state

        total_bytes, cached_bytes = cache_state(paths)
        cached = cached_bytes / total_bytes if cached_bytes is not None and total_bytes else None
    cold = cached is not None and cached < COLD_FRACTION
    threads = pick_threads(options, method, device, cold)
    ahead = options.readahead_bytes
    if ahead is None:
        ahead = DEFAULT_READAHEAD_BYTES if cold else 0
    outcome.loader, outcome.method, outcome.threads = "fast", method, threads
    outcome.window, outcome.chunk_bytes = options.window, options.chunk_bytes
    outcome.readahead_bytes = ahead
    outcome.cached_fraction = cached
    outcome.cache = None if cached is None else "cold" if cold else "warm"
    total = len(plan.items)
    device_name = normalise_device(device)
    t0 = time.perf_counter()
    pool = _Pool(threads, method, device, options.chunk_bytes, paths)
    readahead = (_Readahead(pool.fds, plan.items, ahead)
                 if ahead and method not in ("register",) else None)
    inflight: deque[_Pending] = deque()
    rss = _RssWatch()
    try:
        for index, item in enumerate(plan.items):
            while len(inflight) >= options.window:
                inflight.popleft().wait()
            rss.sample()
            before_tensor(TensorStep(item.name, item.device_nbytes, item.path.name, index, total,
                                     device_name))
            dest = torch.empty(item.shape, dtype=item.dtype, device=item.device)
            set_param_for_module(model, item.name, dest, info, None)  # type: ignore[arg-type]
            inflight.append(pool.submit(item, dest))
            if readahead is not None:
                readahead.consumed(item.nbytes)
            outcome.tensors += 1
            outcome.bytes += item.nbytes
        while inflight:
            inflight.popleft().wait()
        rss.sample()
    finally:
        inflight.clear()
        if readahead is not None:
            readahead.close()
        pool.close()
        outcome.rss_growth_bytes, outcome.anon_growth_bytes = rss.growth()
        outcome.staging_bytes = pool.staging_bytes
        outcome.stream_s = time.perf_counter() - t0
    # what convert_and_load_state_dict_in_model leaves for save_pretrained
    model._weight_conversions = plan.used_conversions
    return info, None


class _Readahead:
    """Asks the kernel to read the checkpoint ahead of the copies, in the plan's (file) order,
    at most `ahead` bytes beyond the tensors submitted so far: `posix_fadvise(WILLNEED)` queues
    the reads and returns, so with a cold page cache the disk streams sequentially (what one
    reader in file order gets) while the threads copy what has arrived. The pages go to the
    page cache (the kernel's, reclaimable), not to this process. A paused load stops it within
    `ahead` bytes."""

    def __init__(self, fds: dict[Path, int], items: list[Item], ahead: int) -> None:
        self.fds = fds
        self.items = items
        self.ahead = ahead
        self.submitted = 0
        self.issued = 0
        self.closed = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="fastload-readahead",
                                       daemon=True)
        self.thread.start()

    def consumed(self, nbytes: int) -> None:
        with self.cond:
            self.submitted += nbytes
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()
        self.thread.join(timeout=5.0)

    def _run(self) -> None:
        for item in self.items:
            fd = self.fds.get(item.path)
            for start in range(0, item.nbytes, READAHEAD_STEP_BYTES):
                nbytes = min(READAHEAD_STEP_BYTES, item.nbytes - start)
                with self.cond:
                    while not self.closed and self.issued - self.submitted >= self.ahead:
                        self.cond.wait()
                    if self.closed:
                        return
                if fd is not None:
                    with contextlib.suppress(AttributeError, OSError):
                        os.posix_fadvise(fd, item.offset + start, nbytes,
                                         os.POSIX_FADV_WILLNEED)
                self.issued += nbytes


class _RssWatch:
    """Peak host RSS (all, and anonymous = minus file-backed/shared) against the start."""

    def __init__(self) -> None:
        self.page = mmap.PAGESIZE
        self.start = self._read()
        self.peak = self.start

    def _read(self) -> tuple[int, int] | None:
        try:
            with open("/proc/self/statm", "rb") as fh:
                fields = fh.read().split()
            resident, shared = int(fields[1]) * self.page, int(fields[2]) * self.page
        except (OSError, ValueError, IndexError):
            return None
        return resident, resident - shared

    def sample(self) -> None:
        now = self._read()
        if now is not None and self.peak is not None:
            self.peak = (max(self.peak[0], now[0]), max(self.peak[1], now[1]))

    def growth(self) -> tuple[int | None, int | None]:
        if self.start is None or self.peak is None:
            return None, None
        return self.peak[0] - self.start[0], self.peak[1] - self.start[1]


def _pread_into(fd: int, view: memoryview, offset: int) -> None:
    """Fill `view` from `fd` at `offset` (os.preadv releases the GIL)."""
    done = 0
    total = len(view)
    while done < total:
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise OSError(f"short read: {done} of {total} bytes at offset {offset}")
        done += n


class _Pending:
    """One tensor being filled: its chunks count down; CUDA events say when copies landed."""

    def __init__(self, item: Item, dest: torch.Tensor, chunks: int) -> None:
        self.item = item
        self.dest = dest
        self.flat = dest.view(-1)
        self.bytes = self.flat.view(torch.uint8) if dest.numel() else self.flat
        self.remaining = chunks
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.events: list[Any] = []
        self.error: BaseException | None = None
        if chunks == 0:
            self.done.set()

    def chunk_finished(self, event: Any, error: BaseException | None) -> None:
        with self.lock:
            if event is not None:
                self.events.append(event)
            if error is not None and self.error is None:
                self.error = error
            self.remaining -= 1
            if self.remaining == 0:
                self.done.set()

    def wait(self) -> None:
        """Until every byte of this tensor is in place; re-raises a reader's error."""
        self.done.wait()
        for event in self.events:
            event.synchronize()
        self.events.clear()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class _Slot:
    """A reused staging buffer and the event after which it may be refilled (recorded after
    each copy out of it; `pending` until it has been waited for)."""

    def __init__(self, nbytes: int, pin: bool) -> None:
        self.buffer = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pin)
        self.array: Any = self.buffer.numpy()
        self.event: Any = _cuda().Event() if pin else None
        self.pending = False


class _ThreadState:
    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.cuda = pool.device.type == "cuda"
        self.stream: Any = None
        if self.cuda:
            torch.cuda.set_device(pool.device)
            self.stream = _cuda().Stream(pool.device)
        self.slots: list[_Slot] = []
        self.turn = 0
        self.scratch: torch.Tensor | None = None  # on the device: file-dtype bytes to cast
        self.handles: dict[Path, Any] = {}  # safe_open handles

    def slot(self) -> _Slot:
        if not self.slots:
            pin = self.cuda
            self.slots = [_Slot(self.pool.chunk_bytes, pin) for _ in range(2)]
            self.pool.add_staging(2 * self.pool.chunk_bytes)
        slot = self.slots[self.turn]
        self.turn ^= 1
        if slot.pending:
            slot.event.synchronize()
            slot.pending = False
        return slot

    def cast_scratch(self, nbytes: int) -> torch.Tensor:
        if self.scratch is None or self.scratch.numel() < nbytes:
            self.scratch = torch.empty(self.pool.chunk_bytes, dtype=torch.uint8,
                                       device=self.pool.device)
        return self.scratch[:nbytes]

    def record(self) -> Any:
        if not self.cuda:
            return None
        event = _cuda().Event()
        event.record(self.stream)
        return event

    def close(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()
        for handle in self.handles.values():
            with contextlib.suppress(Exception):
                handle.__exit__(None, None, None)
        self.handles.clear()
        self.slots.clear()
        self.scratch = None


class _Pool:
    """N reader threads; one queue of chunk jobs; per-thread buffers, stream and handles."""

    def __init__(self, n: int, method: str, device: torch.device, chunk_bytes: int,
                 paths: list[Path]) -> None:
        self.method = method
        self.device = device
        if device.type == "cuda" and device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.chunk_bytes = chunk_bytes
        self.n = n
        self.staging_bytes = 0
        self._lock = threading.Lock()
        self.fds: dict[Path, int] = {}
        self.maps: dict[Path, Any] = {}
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            self.fds[path] = fd
            with contextlib.suppress(AttributeError, OSError):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            if method == "mmap":
                self.maps[path] = mmap.mmap(fd, 0, access=mmap.ACCESS_COPY)
            elif method == "register":
                self.maps[path] = _ReadOnlyMap(fd, os.fstat(fd).st_size)
        self.jobs: queue.SimpleQueue[tuple[_Pending, int, int] | None] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._run, name=f"fastload-{i}", daemon=True)
                        for i in range(n)]
        for thread in self.threads:
            thread.start()

    def add_staging(self, nbytes: int) -> None:
        with self._lock:
            self.staging_bytes += nbytes

    def submit(self, item: Item, dest: torch.Tensor) -> _Pending:
        """Cut the tensor into pieces of chunk_bytes (whole elements); queue them."""
        numel = item.numel
        size = item.file_dtype.itemsize
        if method_by_rows(self.method) and len(item.shape) >= 1:
            row = max(1, numel // item.shape[0]) if item.shape[0] else 1
        else:
            row = 1
        step = max(1, self.chunk_bytes // size)
        step = max(row, step // row * row)  # whole rows for safe_open (it slices rows)
        ranges = [(e0, min(numel, e0 + step)) for e0 in range(0, numel, step)]
        pending = _Pending(item, dest, len(ranges))
        for e0, e1 in ranges:
            self.jobs.put((pending, e0, e1))
        return pending

    def _run(self) -> None:
        state: _ThreadState | None = None
        try:
            state = _ThreadState(self)
        except BaseException as exc:  # no CUDA stream, no pinned memory: fail every job
            init_error: BaseException | None = exc
        else:
            init_error = None
        while True:
            job = self.jobs.get()
            if job is None:
                break
            pending, e0, e1 = job
            if init_error is not None:
                pending.chunk_finished(None, init_error)
                continue
            if pending.error is not None:  # an earlier chunk failed: skip the rest
                pending.chunk_finished(None, None)
                continue
            assert state is not None
            try:
                if state.cuda:
                    with torch.cuda.stream(state.stream):
                        event = self._copy(state, pending, e0, e1)
                else:
                    event = self._copy(state, pending, e0, e1)
            except BaseException as exc:
                pending.chunk_finished(None, exc)
            else:
                pending.chunk_finished(event, None)
        if state is not None:
            state.close()

    def _copy(self, state: _ThreadState, pending: _Pending, e0: int, e1: int) -> Any:
        item = pending.item
        size = item.file_dtype.itemsize
        start = item.offset + e0 * size
        nbytes = (e1 - e0) * size
        cast = item.file_dtype != item.dtype
        target_bytes = pending.bytes[e0 * size:e1 * size] if not cast else None
        target = pending.flat[e0:e1]
        method = self.method
        if method == "direct":
            if not cast:
                assert target_bytes is not None
                array: Any = target_bytes.numpy()
                _pread_into(self.fds[item.path], memoryview(array), start)
            else:
                slot = state.slot()
                _pread_into(self.fds[item.path], memoryview(slot.array)[:nbytes], start)
                target.copy_(slot.buffer[:nbytes].view(item.file_dtype))
            return None
        if method == "staging":
            slot = state.slot()
            _pread_into(self.fds[item.path], memoryview(slot.array)[:nbytes], start)
            source = slot.buffer[:nbytes]
            if not cast:
                assert target_bytes is not None
                target_bytes.copy_(source, non_blocking=state.cuda)
            elif state.cuda:
                scratch = state.cast_scratch(nbytes)
                scratch.copy_(source, non_blocking=True)
                target.copy_(scratch.view(item.file_dtype))
            else:
                target.copy_(source.view(item.file_dtype))
            if slot.event is None:
                return None
            slot.event.record(state.stream)
            slot.pending = True
            return slot.event
        if method == "mmap":
            view = torch.frombuffer(self.maps[item.path], dtype=torch.uint8, count=nbytes,
                                    offset=start)
            if cast:
                target.copy_(view.view(item.file_dtype))
            else:
                assert target_bytes is not None
                target_bytes.copy_(view)
            event = state.record()
            if event is not None:
                event.synchronize()  # the mapping's pages are read by the copy until here
            del view
            return event
        if method == "safe_open":
            handle: Any = state.handles.get(item.path)
            if handle is None:
                from safetensors import safe_open

                handle = safe_open(str(item.path), framework="pt", device=str(self.device))
                handle.__enter__()
                state.handles[item.path] = handle
            if not item.shape:
                part = handle.get_tensor(item.name)
            else:
                row = max(1, item.numel // item.shape[0])
                part = handle.get_slice(item.name)[e0 // row:e1 // row]
            target.copy_(part.reshape(-1))
            event = state.record()
            del part
            return event
        if method == "register":
            return self.maps[item.path].copy_registered(
                start, nbytes, target_bytes=target_bytes, target=target,
                file_dtype=item.file_dtype, state=state)
        raise ValueError(f"unknown method {method!r}")

    def close(self) -> None:
        """Stop the threads (after the jobs queued so far), sync their streams, free buffers."""
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()
        for path, mapped in self.maps.items():
            with contextlib.suppress(BufferError, OSError, ValueError):
                mapped.close()
            del path
        self.maps.clear()
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        if self.device.type == "cuda":
            # freed pinned staging stays in torch's host cache (RSS) unless emptied
            empty = getattr(torch._C, "_host_emptyCache", None)
            if empty is not None:
                empty()


def method_by_rows(method: str) -> bool:
    """safe_open slices whole rows; the byte-range methods split anywhere."""
    return method == "safe_open"


class _ReadOnlyMap:
    """Method d: a read-only shared mapping of one shard, registered with CUDA as a whole the
    first time a thread needs it (cudaHostRegisterReadOnly: the page cache's own pages become
    DMA-able, no copy through the CPU). Experimental: registering pins the whole shard, which
    reads it in when the cache is cold - ahead of the hooks of its later tensors - so it is a
    benchmark variant, never the default. Unregistered and unmapped at the end of the load."""

    def __init__(self, fd: int, size: int) -> None:
        from console.host.loadspeed import libc_mapping

        self.libc = libc_mapping()
        self.size = size
        self.lock = threading.Lock()
        self.registered = False
        addr = self.libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        self.addr = int(addr)

    def _register(self) -> None:
        with self.lock:
            if self.registered:
                return
            err = _cuda().cudart().cudaHostRegister(self.addr, self.size,
                                                       CUDA_HOST_REGISTER_READ_ONLY)
            if int(err) != 0:
                raise RuntimeError(f"cudaHostRegister of a {self.size}-byte shard failed: {err}")
            self.registered = True

    def copy_registered(self, start: int, nbytes: int, *, target_bytes: torch.Tensor | None,
                        target: torch.Tensor, file_dtype: torch.dtype,
                        state: _ThreadState) -> Any:
        self._register()
        array = (ctypes.c_ubyte * nbytes).from_address(self.addr + start)
        source = torch.frombuffer(array, dtype=torch.uint8)
        if target_bytes is not None:
            target_bytes.copy_(source, non_blocking=True)
        else:
            scratch = state.cast_scratch(nbytes)
            scratch.copy_(source, non_blocking=True)
            target.copy_(scratch.view(file_dtype))
        return state.record()

    def close(self) -> None:
        """After every copy has finished (the pool joined its threads and synced streams)."""
        if self.registered:
            _cuda().cudart().cudaHostUnregister(self.addr)
            self.registered = False
        if self.addr:
            self.libc.munmap(ctypes.c_void_p(self.addr), self.size)
            self.addr = 0
