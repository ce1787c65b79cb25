#!/usr/bin/env python3
"""How fast can checkpoint bytes move from the page cache to the GPU on this host, and by which
route? Raw transports over the safetensors shards of one checkpoint, warm page cache, into
preallocated VRAM (no model, no hooks), plus the fixed cost of `from_pretrained` around the
weights. Guides issue 6's loader design (console/worker/fastload.py); not a check.

    python3 gpu/probe_transport.py --model /tmp/autoglm-check/llama-8b --out $OUT

Routes (T threads; every route moves every data byte of every shard once; GB/s of those bytes):
- host-pread-T: preads into one pinned buffer per thread, no GPU copy (the page cache's read
  ceiling through the CPU); host-pread-pageable-8: the same into plain memory;
- staging-T-cM: the fast loader's route: M MiB chunks from one queue, preads into two pinned
  buffers per thread, `non_blocking` copies on the thread's own stream, an event per buffer;
- pershard-T: the data split into T contiguous regions (by file), each thread reading its region
  in order (64 MiB, two pinned buffers): no shared queue;
- mmap-T: the files mapped, 64 MiB ranges copied from the mapping with `copy_` (pageable
  host-to-device: what `safe_open(device=...)` and `.to(device)` do);
- safe_open-4: one thread per shard, `safe_open(file, device="cuda:0").get_tensor` for each
  tensor (../shared/FACTS.md: 12.8 GB/s on the H100 host);
- register-shard: each shard mapped read-only and registered with CUDA as a whole
  (cudaHostRegister, read-only flag), then one DMA copy, one thread per shard: register / copy
  seconds reported apart; register-chunk-T-M: M MiB ranges registered, copied, unregistered.
Then `from_pretrained(device_map=cuda)` plain, and through console.worker.fastload (no guard),
with the loader's own streaming seconds: what is left is from_pretrained's fixed cost.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import mmap
import os
import queue
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

MIB = 1024**2
PAGE = mmap.PAGESIZE
READ_ONLY = 8  # cudaHostRegisterReadOnly


class Shard:
    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            self.header = json.loads(fh.read(n))
        self.start = 8 + n
        self.size = path.stat().st_size
        self.nbytes = self.size - self.start
        self.fd = os.open(path, os.O_RDONLY)
        self.dest: torch.Tensor | None = None


def pread_into(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise OSError("short read")
        done += n


def chunks(shards: list[Shard], size: int) -> list[tuple[Shard, int, int]]:
    out = []
    for s in shards:
        for off in range(0, s.nbytes, size):
            out.append((s, off, min(size, s.nbytes - off)))
    return out


def run_threads(n: int, target: Any, args_for: Any) -> None:
    errors: list[BaseException] = []

    def wrap(i: int) -> None:
        try:
            target(*args_for(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def host_pread(shards: list[Shard], threads: int, pinned: bool) -> dict[str, Any]:
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    for job in chunks(shards, 16 * MIB):
        jobs.put(job)
    for _ in range(threads):
        jobs.put(None)

    def work() -> None:
        buf = torch.empty(16 * MIB, dtype=torch.uint8, pin_memory=pinned)
        view = memoryview(buf.numpy())
        while (job := jobs.get()) is not None:
            s, off, n = job
            pread_into(s.fd, view[:n], s.start + off)

    run_threads(threads, work, lambda i: ())
    return {}


def staging(shards: list[Shard], threads: int, chunk: int, contiguous: bool) -> dict[str, Any]:
    """Queue of chunks (contiguous=False) or one contiguous region per thread (True)."""
    all_chunks = chunks(shards, chunk)
    if contiguous:
        per = -(-len(all_chunks) // threads)
        regions = [all_chunks[i * per:(i + 1) * per] for i in range(threads)]
    else:
        jobs: queue.SimpleQueue = queue.SimpleQueue()
        for job in all_chunks:
            jobs.put(job)
        for _ in range(threads):
            jobs.put(None)

    def source(i: int) -> Any:
        if contiguous:
            yield from regions[i]
        else:
            while (job := jobs.get()) is not None:
                yield job

    def work(i: int) -> None:
        stream = torch.cuda.Stream()
        bufs = [torch.empty(chunk, dtype=torch.uint8, pin_memory=True) for _ in range(2)]
        views = [memoryview(b.numpy()) for b in bufs]
        events: list[Any] = [None, None]
        turn = 0
        with torch.cuda.stream(stream):
            for s, off, n in source(i):
                if events[turn] is not None:
                    events[turn].synchronize()
                pread_into(s.fd, views[turn][:n], s.start + off)
                s.dest[off:off + n].copy_(bufs[turn][:n], non_blocking=True)
                events[turn] = torch.cuda.Event()
                events[turn].record(stream)
                turn ^= 1
        stream.synchronize()

    run_threads(threads, work, lambda i: (i,))
    return {}


def mmap_copy(shards: list[Shard], threads: int, chunk: int) -> dict[str, Any]:
    maps = {s.path: mmap.mmap(s.fd, 0, access=mmap.ACCESS_READ) for s in shards}
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    for job in chunks(shards, chunk):
        jobs.put(job)
    for _ in range(threads):
        jobs.put(None)

    def work() -> None:
        while (job := jobs.get()) is not None:
            s, off, n = job
            src = torch.frombuffer(maps[s.path], dtype=torch.uint8, count=n, offset=s.start + off)
            s.dest[off:off + n].copy_(src)
            del src

    try:
        run_threads(threads, work, lambda i: ())
        torch.cuda.synchronize()
    finally:
        for m in maps.values():
            with contextlib.suppress(BufferError):
                m.close()
    return {}


def safe_open_route(shards: list[Shard]) -> dict[str, Any]:
    from safetensors import safe_open

    def work(i: int) -> None:
        s = shards[i]
        keep = []
        with safe_open(str(s.path), framework="pt", device="cuda:0") as f:
            for name in f.keys():  # noqa: SIM118
                keep.append(f.get_tensor(name))
        torch.cuda.synchronize()
        del keep

    run_threads(len(shards), work, lambda i: (i,))
    return {}


class Mapped:
    def __init__(self, fd: int, size: int) -> None:
        from console.host.loadspeed import libc_mapping

        libc = libc_mapping()
        self.libc = libc
        self.size = size
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed")
        self.addr = int(addr)

    def close(self) -> None:
        self.libc.munmap(ctypes.c_void_p(self.addr), self.size)


def cuda_register(addr: int, size: int) -> None:
    err = torch.cuda.cudart().cudaHostRegister(addr, size, READ_ONLY)
    if int(err) != 0:
        raise RuntimeError(f"cudaHostRegister({size} bytes) failed: {err}")


def cuda_unregister(addr: int) -> None:
    torch.cuda.cudart().cudaHostUnregister(addr)


def register_shard(shards: list[Shard], populate: bool) -> dict[str, Any]:
    times: dict[str, list[float]] = {"populate_s": [], "register_s": [], "copy_s": [],
                                     "unregister_s": []}
    lock = threading.Lock()

    def work(i: int) -> None:
        s = shards[i]
        m = Mapped(s.fd, s.size)
        try:
            t0 = time.perf_counter()
            if populate:
                m.libc.madvise(ctypes.c_void_p(m.addr), m.size, 22)  # MADV_POPULATE_READ
            t1 = time.perf_counter()
            cuda_register(m.addr, m.size)
            t2 = time.perf_counter()
            arr = (ctypes.c_ubyte * s.nbytes).from_address(m.addr + s.start)
            src = torch.frombuffer(arr, dtype=torch.uint8)
            stream = torch.cuda.Stream()
            with torch.cuda.stream(stream):
                s.dest.copy_(src, non_blocking=True)
            stream.synchronize()
            t3 = time.perf_counter()
            del src, arr
            cuda_unregister(m.addr)
            t4 = time.perf_counter()
            with lock:
                times["populate_s"].append(t1 - t0)
                times["register_s"].append(t2 - t1)
                times["copy_s"].append(t3 - t2)
                times["unregister_s"].append(t4 - t3)
        finally:
            m.close()

    run_threads(len(shards), work, lambda i: (i,))
    return {k: round(max(v), 3) for k, v in times.items() if v}


def register_chunks(shards: list[Shard], threads: int, chunk: int) -> dict[str, Any]:
    maps = {s.path: Mapped(s.fd, s.size) for s in shards}
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    for job in chunks(shards, chunk):
        jobs.put(job)
    for _ in range(threads):
        jobs.put(None)
    reg = [0.0]
    lock = threading.Lock()

    def work() -> None:
        stream = torch.cuda.Stream()
        while (job := jobs.get()) is not None:
            s, off, n = job
            m = maps[s.path]
            lo = (s.start + off) // PAGE * PAGE
            hi = min(m.size, -(-(s.start + off + n) // PAGE) * PAGE)
            t0 = time.perf_counter()
            cuda_register(m.addr + lo, hi - lo)
            t1 = time.perf_counter()
            arr = (ctypes.c_ubyte * n).from_address(m.addr + s.start + off)
            src = torch.frombuffer(arr, dtype=torch.uint8)
            with torch.cuda.stream(stream):
                s.dest[off:off + n].copy_(src, non_blocking=True)
            stream.synchronize()
            del src, arr
            cuda_unregister(m.addr + lo)
            with lock:
                reg[0] += t1 - t0

    try:
        run_threads(threads, work, lambda i: ())
    finally:
        for m in maps.values():
            m.close()
    return {"register_s_summed": round(reg[0], 3)}


def from_pretrained_split(path: Path) -> list[dict[str, Any]]:
    import transformers

    from console.worker import fastload, tinymodels

    config = transformers.AutoConfig.from_pretrained(path)
    cls = tinymodels.model_class_for(config)
    rows = []
    for kind in ("plain", "fast", "plain", "fast"):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        if kind == "plain":
            model = cls.from_pretrained(path, dtype="auto", device_map="cuda:0")
            stream_s = None
        else:
            with fastload.installed(fastload.Options(loader="fast"), lambda step: None) as out:
                model = cls.from_pretrained(path, dtype="auto", device_map="cuda:0")
            stream_s = out.stream_s
        torch.cuda.synchronize()
        total = time.perf_counter() - t0
        rows.append({"route": f"from_pretrained {kind}", "seconds": total, "stream_s": stream_s,
                     "outside_stream_s": None if stream_s is None else total - stream_s})
        del model
        torch.cuda.empty_cache()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="/tmp/autoglm-check/llama-8b")
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--routes", default="")
    args = parser.parse_args()
    path = Path(args.model)
    shards = [Shard(p) for p in sorted(path.glob("*.safetensors"))]
    total = sum(s.nbytes for s in shards)
    torch.zeros(1, device="cuda:0")
    torch.cuda.synchronize()
    print(f"{len(shards)} shards, {total / 1e9:.2f} GB; {os.cpu_count()} cpus", flush=True)
    # warm the page cache (and time one thread reading it)
    t0 = time.perf_counter()
    buf = bytearray(16 * MIB)
    for s in shards:
        with s.path.open("rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    print(f"warm-up read {total / (time.perf_counter() - t0) / 1e9:.2f} GB/s", flush=True)
    for s in shards:
        s.dest = torch.empty(s.nbytes, dtype=torch.uint8, device="cuda:0")
    routes: dict[str, Any] = {
        "host-pread-1": lambda: host_pread(shards, 1, True),
        "host-pread-4": lambda: host_pread(shards, 4, True),
        "host-pread-8": lambda: host_pread(shards, 8, True),
        "host-pread-16": lambda: host_pread(shards, 16, True),
        "host-pread-pageable-8": lambda: host_pread(shards, 8, False),
        "staging-8-c16": lambda: staging(shards, 8, 16 * MIB, False),
        "staging-16-c16": lambda: staging(shards, 16, 16 * MIB, False),
        "staging-8-c64": lambda: staging(shards, 8, 64 * MIB, False),
        "pershard-4": lambda: staging(shards, 4, 64 * MIB, True),
        "pershard-8": lambda: staging(shards, 8, 64 * MIB, True),
        "pershard-16": lambda: staging(shards, 16, 64 * MIB, True),
        "mmap-4": lambda: mmap_copy(shards, 4, 64 * MIB),
        "mmap-8": lambda: mmap_copy(shards, 8, 64 * MIB),
        "mmap-16": lambda: mmap_copy(shards, 16, 64 * MIB),
        "safe_open-4": lambda: safe_open_route(shards),
        "register-shard": lambda: register_shard(shards, False),
        "register-shard-populate": lambda: register_shard(shards, True),
        "register-chunk-8-256": lambda: register_chunks(shards, 8, 256 * MIB),
        "register-chunk-16-64": lambda: register_chunks(shards, 16, 64 * MIB),
        "staging-8-c16 (again)": lambda: staging(shards, 8, 16 * MIB, False),
    }
    wanted = [r for r in args.routes.split(",") if r] or list(routes)
    rows: list[dict[str, Any]] = []
    for name in wanted:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        try:
            extra = routes[name]()
            torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            row = {"route": name, "seconds": seconds, "gb_per_s": total / seconds / 1e9, **extra}
        except Exception as exc:
            row = {"route": name, "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    for s in shards:
        s.dest = None
    torch.cuda.empty_cache()
    try:
        for row in from_pretrained_split(path):
            rows.append(row)
            print(json.dumps(row), flush=True)
    except Exception as exc:
        print(f"from_pretrained split failed: {type(exc).__name__}: {exc}", flush=True)
    print(f"\n{'route':<26}{'seconds':>9}{'GB/s':>8}  extra")
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in ("route", "seconds", "gb_per_s")}
        sec = row.get("seconds")
        gbs = row.get("gb_per_s")
        print(f"{row['route']:<26}{'' if sec is None else f'{sec:.3f}':>9}"
              f"{'' if gbs is None else f'{gbs:.2f}':>8}  {json.dumps(extra) if extra else ''}")
    Path(args.out, "probe_transport.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
