"""The numbers inside a GPU out-of-memory message, and what they say about the cause.

torch's caching allocator (c10/cuda/CUDACachingAllocator.cpp) has printed three formats:

- <= 2.0: "CUDA out of memory. Tried to allocate 2.00 MiB (GPU 0; 23.50 GiB total capacity;
  23.16 GiB already allocated; 2.81 MiB free; [9.00 GiB allowed; ]23.16 GiB reserved in total by
  PyTorch)" (1.x before 1.6 ended with "... cached)")
- 2.1: "Tried to allocate 3.50 GiB. GPU 0 has a total capacty of 23.64 GiB of which 1.42 GiB is
  free. Process 2722 has 22.22 GiB memory in use. Of the allocated memory 21.5 GiB is allocated by
  PyTorch, and 300 MiB is reserved by PyTorch but unallocated."
- >= 2.2: "capacity" spelled right, this process's own line reads "Including non-PyTorch memory,
  this process has X memory in use.", then "[X allowed; ]", and "with X allocated in private
  pools (e.g., CUDA Graphs), " before the reserved-but-unallocated figure.

Sizes come from c10's format_size: "N bytes", "x.xx KiB/MiB/GiB". HIP, XPU and MPS messages
reuse parts of the same wording.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from console.core.sample import GpuSample
from console.core.units import GIB, fmt_bytes

_SIZE = r"(\d+(?:\.\d*)?)\s?(bytes|B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G)\b"
_UNITS = {
    "bytes": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
    "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
    "K": 1024, "M": 1024**2, "G": 1024**3,
}

_REQUESTED = re.compile(r"[Tt]ried to allocate " + _SIZE)
_GPU_INDEX = re.compile(r"\(GPU (\d+);|\bGPU (\d*) has a total capac")
_TOTAL = re.compile(_SIZE + r" total capacity|total capac(?:i)?ty of " + _SIZE)
_FREE = re.compile(r"of which " + _SIZE + r" is free|; " + _SIZE + r" free[;)]")
_ALLOCATED = re.compile(
    r"Of the allocated memory " + _SIZE + r" is allocated by PyTorch|" + _SIZE
    + r" already allocated"
)
_RESERVED_TOTAL = re.compile(_SIZE + r" reserved in total by PyTorch|" + _SIZE + r" cached\)")
_RESERVED_UNALLOCATED = re.compile(_SIZE + r" is reserved by PyTorch but unallocated")
_THIS_PROCESS = re.compile(r"this process has " + _SIZE + r" memory in use")
_OTHER_PROCESS = re.compile(r"Process (\d+) has " + _SIZE + r" memory in use")
_ALLOWED = re.compile(_SIZE + r" allowed;")
_PRIVATE_POOLS = re.compile(r"with " + _SIZE + r" allocated in private pools")
# MPS: "MPS backend out of memory (MPS allocated: 17.80 GB, other allocations: 404.06 MB,
# max allowed: 18.13 GB). Tried to allocate 64.00 MB on private pool."
_MPS = re.compile(r"MPS allocated: " + _SIZE + r", other allocations: " + _SIZE
                  + r", max allowed: " + _SIZE)


def parse_size(number: str, unit: str) -> int:
    """ "2.00", "MiB" -> bytes."""
    return int(float(number.rstrip(".") or 0) * _UNITS[unit])


def _first_size(pattern: re.Pattern[str], text: str) -> int | None:
    m = pattern.search(text)
    if m is None:
        return None
    groups = [g for g in m.groups() if g is not None]
    return parse_size(groups[0], groups[1]) if len(groups) >= 2 else None


@dataclass(frozen=True, slots=True)
class OomNumbers:
    """What one out-of-memory message says; None where that torch version does not say it."""

    gpu_index: int | None
    requested_bytes: int | None
    total_bytes: int | None
    free_bytes: int | None
    allowed_bytes: int | None
    allocated_bytes: int | None  # live tensors ("allocated by PyTorch")
    reserved_unallocated_bytes: int | None  # cached by the allocator, not in use
    this_process_bytes: int | None  # the process's whole use, non-PyTorch memory included
    private_pool_bytes: int | None
    other_processes: tuple[tuple[int, int], ...]  # (pid, bytes) of other processes on that GPU

    @property
    def other_processes_bytes(self) -> int:
        return sum(b for _, b in self.other_processes)


def parse_cuda_oom(text: str) -> OomNumbers | None:
    """The numbers of the first out-of-memory message in `text` (lines may be joined or not)."""
    start = text.find("out of memory")
    if start < 0:
        return None
    # One message: from its start to the documentation pointer that ends it (or 1,500 chars).
    window = " ".join(text[max(0, start - 40): start + 1500].split())
    requested = _first_size(_REQUESTED, window)
    total = _first_size(_TOTAL, window)
    mps = _MPS.search(window)
    if requested is None and total is None and mps is None:
        return None
    gpu = _GPU_INDEX.search(window)
    gpu_index = None
    if gpu is not None:
        digits = gpu.group(1) or gpu.group(2)
        gpu_index = int(digits) if digits else None
    allocated = _first_size(_ALLOCATED, window)
    unallocated = _first_size(_RESERVED_UNALLOCATED, window)
    reserved_total = _first_size(_RESERVED_TOTAL, window)
    if unallocated is None and reserved_total is not None and allocated is not None:
        unallocated = max(0, reserved_total - allocated)
    others = tuple(
        (int(pid), parse_size(num, unit)) for pid, num, unit in _OTHER_PROCESS.findall(window)
    )
    if mps is not None:
        allocated = parse_size(mps.group(1), mps.group(2))
        total = parse_size(mps.group(5), mps.group(6))
    return OomNumbers(
        gpu_index=gpu_index,
        requested_bytes=requested,
        total_bytes=total,
        free_bytes=_first_size(_FREE, window),
        allowed_bytes=_first_size(_ALLOWED, window),
        allocated_bytes=allocated,
        reserved_unallocated_bytes=unallocated,
        this_process_bytes=_first_size(_THIS_PROCESS, window),
        private_pool_bytes=_first_size(_PRIVATE_POOLS, window),
        other_processes=others,
    )


@dataclass(frozen=True, slots=True)
class OomVerdict:
    kind: str  # "fragmentation" | "other_process" | "kv_cache" | "weights" | "generic"
    title: str
    explanation: str
    fixes: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]


def _name_processes(
    others: Sequence[tuple[int, int]], gpus: Sequence[GpuSample], gpu_index: int | None,
    engine_pid: int | None,
) -> list[tuple[str, int]]:
    """(label, bytes) of the other processes, named from NVML's process list when we have it."""
    names: dict[int, str] = {}
    nvml_others: list[tuple[str, int]] = []
    for gpu in gpus:
        if gpu_index is not None and gpu.index != gpu_index and len(gpus) > 1:
            continue
        for proc in gpu.processes:
            label = f"{proc.name or 'pid'} (pid {proc.pid}" + (f", user {proc.user})" if proc.user
                                                               else ")")
            names[proc.pid] = label
            if proc.pid != engine_pid and proc.gpu_memory_bytes:
                nvml_others.append((label, proc.gpu_memory_bytes))
    if others:
        return [(names.get(pid, f"pid {pid}"), used) for pid, used in others]
    return nvml_others


def judge_oom(
    numbers: OomNumbers | None,
    *,
    phase: str | None = None,
    gpus: Sequence[GpuSample] = (),
    engine_pid: int | None = None,
    weights_bytes: int | None = None,
    kv_bytes_per_token: int | None = None,
    context_tokens: int | None = None,
) -> OomVerdict:
    """Turn the numbers (and what the console knows) into the specific cause of this OOM.

    `phase` is "load" or "generate" when known (from the console, or guessed from the frames).
    """
    facts: list[tuple[str, str]] = []
    n = numbers
    if n is not None:
        for label, value in (
            ("requested", n.requested_bytes), ("GPU total", n.total_bytes), ("free", n.free_bytes),
            ("allowed", n.allowed_bytes), ("this process", n.this_process_bytes),
            ("allocated by PyTorch", n.allocated_bytes),
            ("reserved but unallocated", n.reserved_unallocated_bytes),
        ):
            if value is not None:
                facts.append((label, fmt_bytes(value)))
    total = n.total_bytes if n is not None else None
    if total is None and gpus:
        total = next((g.memory_total_bytes for g in gpus if g.memory_total_bytes), None)
    others = _name_processes(n.other_processes if n else (), gpus, n.gpu_index if n else None,
                             engine_pid)
    others_bytes = sum(b for _, b in others)
    for label, used in others:
        facts.append((f"other: {label}", fmt_bytes(used)))
    if weights_bytes is not None:
        facts.append(("weights (estimate)", fmt_bytes(weights_bytes)))
    kv_bytes = None
    if kv_bytes_per_token is not None and context_tokens is not None:
        kv_bytes = kv_bytes_per_token * context_tokens
        facts.append(("KV cache",
            f"{fmt_bytes(kv_bytes)} ({context_tokens} tokens x {fmt_bytes(kv_bytes_per_token)})"))

    requested = n.requested_bytes if n is not None else None
    unallocated = n.reserved_unallocated_bytes if n is not None else None
    big = max(GIB // 2, int(0.05 * total)) if total else GIB // 2

    # Fragmentation: the allocator holds more idle memory than it was asked for, in pieces.
    if (unallocated is not None and requested is not None and unallocated >= requested
        and unallocated >= big):
        return OomVerdict(
            "fragmentation",
            f"GPU out of memory: fragmentation ({fmt_bytes(unallocated)} reserved but unallocated)",
            f"Torch holds {fmt_bytes(unallocated)} reserved but unallocated, more than the "
            f"{fmt_bytes(requested)} it asked for, but in pieces too small to use: the cache is "
            "fragmented.",
            ("restart the engine with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True",
             "free cached blocks between requests (the console's empty_cache) or restart the "
             "engine"),
            tuple(facts),
        )
    # Another process holds a large share of the GPU.
    if others_bytes and others_bytes >= big and (requested is None or others_bytes >= requested):
        label, used = max(others, key=lambda o: o[1])
        who = (f"{label} holds" if len(others) == 1
               else f"{len(others)} other processes (the largest: {label}, {fmt_bytes(used)}) hold")
        return OomVerdict(
            "other_process",
            f"GPU out of memory: another process holds {fmt_bytes(others_bytes)}",
            f"{who} {fmt_bytes(others_bytes)} of this GPU"
            + (f" ({others_bytes / total:.0%})" if total else "")
            + ", so the model does not have the room it needs.",
            (f"stop or move {label} (nvidia-smi shows it), or pick a free GPU with "
             "CUDA_VISIBLE_DEVICES",
             "unload the other model before loading this one"),
            tuple(facts),
        )
    if phase == "generate":
        if kv_bytes is not None:
            text = (f"The KV cache at this context length ({context_tokens} tokens) takes "
                    f"{fmt_bytes(kv_bytes)} on top of the weights; generation ran out of room.")
        else:
            text = ("Memory ran out while generating: the KV cache and activations grow with the "
                    "context length and the batch size.")
        return OomVerdict(
            "kv_cache",
            "GPU out of memory: the KV cache at this context length",
            text,
            ("shorten the prompt or lower max_new_tokens / the context length",
             "generate with a smaller batch, or use a quantized KV cache "
             "(cache_implementation='quantized')"),
            tuple(facts),
        )
    if phase == "load" or (weights_bytes is not None and total is not None
                           and weights_bytes > 0.9 * total):
        if weights_bytes is not None and total is not None:
            text = (f"The weights alone need about {fmt_bytes(weights_bytes)}, and the GPU has "
                    f"{fmt_bytes(total)}" + (f" ({fmt_bytes(others_bytes)} of it used by others)"
                                             if others_bytes else "")
                    + ": the model does not fit.")
        else:
            text = ("Memory ran out while the weights were being placed on the GPU: the model does "
                    "not fit.")
        return OomVerdict(
            "weights",
            "GPU out of memory: the weights do not fit",
            text,
            ("load a quantized build (8-bit / 4-bit) or a smaller model",
             "offload part of the model: device_map='auto' with a max_memory limit",
             "use a GPU with more memory, or split the model across GPUs"),
            tuple(facts),
        )
    if requested is not None and total is not None and requested > total:
        return OomVerdict(
            "generic",
            "GPU out of memory: one allocation is larger than the whole GPU",
            f"A single allocation of {fmt_bytes(requested)} was requested; the GPU has "
            f"{fmt_bytes(total)} in all.",
            ("look for a tensor sized by a wrong config (vocab x hidden, context x context) or a "
             "batch far too large",
             "load the model quantized, or split it across GPUs / offload to the CPU"),
            tuple(facts),
        )
    return OomVerdict(
        "generic",
        "GPU out of memory",
        "The GPU ran out of memory"
        + (f": {fmt_bytes(requested)} was requested with {fmt_bytes(n.free_bytes)} free"
           if n is not None and requested is not None and n.free_bytes is not None else "")
        + ".",
        ("lower the batch size or the context length",
         "load the model quantized or use a smaller model",
         "set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True if reserved-but-unallocated is "
         "large"),
        tuple(facts),
    )
