#!/usr/bin/env python3
"""Load speed: the guarded fast loader (console/worker/fastload.py, through the real engine)
vs plain `from_pretrained(..., device_map=DEVICE)`, warm and cold page cache, vs the raw
sequential read rate of the same files.

    python3 benchmarks/load_speed.py                        # the H100: 8B + 9B, ~5-6 min
    python3 benchmarks/load_speed.py --small --device cpu   # tiny shapes on the CPU, < 1 min
    python3 benchmarks/load_speed.py --models llama-8b --variants default,staging-16 ...

Checkpoints (bf16, 5 GB shards; reused when present, e.g. from gpu/check_engine.py):
- llama-8b in --workdir (default /tmp/autoglm-check): hidden 4096, 32 layers, 32 heads, 8 KV
  heads, intermediate 14336, vocab 128256 (16.06 GB);
- glm4v-9b: AutoGLM-Phone-9B's shape, transformers' Glm4vConfig defaults (text: hidden 4096,
  40 layers, 32 heads, 2 KV heads, vocab 151552; vision: depth 24, hidden 1536): 10.29 B
  parameters, 20.6 GB.
Built on the GPU with console.worker.tinymodels.build when missing (and the disk has room).

Every measured load runs in a fresh process with CUDA already initialised before the clock:
- plain: a child that imports torch, transformers and the Auto class, creates the CUDA
  context, then (on "GO") times `Auto*.from_pretrained(path, dtype="auto", device_map=DEVICE)`
  (which imports the model's module, as it does in the engine);
- fast-inproc: the same child with the call inside `fastload.installed` (no guard, no engine):
  its tensors and logits are checked against plain's (a position-weighted checksum of every
  parameter and buffer, computed on the device, and the sha256 of the logits of one forward);
- engine variants: a fresh engine (EngineClient), `load(loader="fast", loader_options=...)`,
  timed by the engine's own `weights_s` (the from_pretrained call, the guard's per-tensor checks
  included). Variants (VARIANTS): default (what the engine picks), wN (N tensors in flight),
  tN (N reader threads), cN (N MiB pieces), nora (no read-ahead), t8-ra (8 threads with
  read-ahead), w1-nora (the first default), staging-N / safe_open-N / mmap-N /
  register-N (threads), staging-8-c4 (4 MiB chunks),
  engine-stock (the engine's guarded stock path, for comparison).
Warm: the files are read once first (mincore confirms they are cached). Cold: the page cache is
dropped before the load (`/proc/sys/vm/drop_caches` as root; otherwise `posix_fadvise
(DONTNEED)` on the files) and mincore must confirm < 5% cached, else the row says "cold: not
possible". The raw rate is one thread reading the files in order in 16 MiB chunks, cold.
Host RSS of the loading process is sampled from here every 5 ms during the load: the peak
growth of its anonymous memory (RSS minus file-backed) must stay within the staging bound
(threads x 2 x chunk, reported by the engine).

Targets (issue 19): warm fast >= 3x plain; cold fast >= 0.95x the disk's best rate: the cold
`disk` row reads the same files with 1, 4, 8 and 16 readers, buffered and O_DIRECT (64 MiB pieces
from one queue, page cache dropped before each) and keeps the fastest. Runs are
ordered by priority and stop when --budget-s is used up (what was skipped is listed).
Prints a table; --out DIR writes DIR/load_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MIB = 1024**2
GIB = 1024**3
READ_CHUNK = 16 * MIB
COLD_MAX_CACHED = 0.05
WARM_MIN_CACHED = 0.9
RSS_SLACK = 64 * MIB
INPUT_IDS = [5, 17, 42, 9, 100, 3, 77, 12]

LLAMA_8B = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
            "head_dim": 128, "max_position_embeddings": 8192}
LLAMA_SMALL = {"hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8,
               "num_key_value_heads": 4, "intermediate_size": 1536, "vocab_size": 32000,
               "head_dim": 64}
GLM4V_SMALL = {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "intermediate_size": 768, "vocab_size": 16000,
               "head_dim": 64, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                   "mrope_section": [4, 6, 6],
                                                   "partial_rotary_factor": 0.5},
               "vision_config": {"hidden_size": 128, "depth": 2, "num_heads": 2,
                                 "intermediate_size": 256, "out_hidden_size": 256}}

BUILD = r"""
import json, sys, time
args = json.loads(sys.argv[1])
from console.worker import tinymodels
overrides = args["overrides"]
if overrides == "GLM4V_DEFAULTS":
    import transformers as tf
    text, vision = tf.Glm4vTextConfig().to_dict(), tf.Glm4vVisionConfig().to_dict()
    overrides = {k: text[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                 "num_attention_heads", "num_key_value_heads", "vocab_size",
                 "max_position_embeddings", "rope_parameters")}
    overrides["head_dim"] = (text.get("head_dim")
                             or text["hidden_size"] // text["num_attention_heads"])
    # AutoGLM-Phone-9B's rope: multimodal sections over half of each head (as its config has)
    overrides["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0,
                                    "mrope_section": [8, 12, 12], "partial_rotary_factor": 0.5}
    skip = {"model_type", "transformers_version", "architectures", "dtype", "torch_dtype",
            "output_hidden_states", "return_dict", "_name_or_path", "id2label", "label2id"}
    overrides["vision_config"] = {k: v for k, v in vision.items() if k not in skip}
t0 = time.perf_counter()
tinymodels.build(args["arch"], args["dest"], dtype=args["dtype"], device=args["device"],
                 max_shard_size=args["shard"], overrides=overrides)
print("BUILT", time.perf_counter() - t0, flush=True)
"""

CHILD = r"""
import hashlib, json, sys, time
args = json.loads(sys.argv[1])
import torch, transformers
from transformers import AutoConfig
from console.worker import fastload, tinymodels
device = args["device"]
cuda = device.startswith("cuda")
if cuda:
    torch.zeros(1, device=device); torch.cuda.synchronize()   # CUDA initialised first
config = AutoConfig.from_pretrained(args["path"])
# the Auto class, as the engine imports it at start; the model's own module is imported by
# from_pretrained inside the clock, as in the engine (weights_s)
auto = tinymodels.model_class_for(config)
print("READY", flush=True)
sys.stdin.readline()
if args["fast"]:
    ctx = fastload.installed(fastload.Options(loader="fast", **args["options"]), lambda s: None)
else:
    import contextlib
    ctx = contextlib.nullcontext(None)
t0 = time.perf_counter()
with ctx as outcome:
    model = auto.from_pretrained(args["path"], dtype="auto", device_map=device)
if cuda:
    torch.cuda.synchronize()
seconds = time.perf_counter() - t0
print("LOADED", flush=True)

def checksum(model):
    digest = hashlib.sha256()
    tensors = list(model.named_parameters(remove_duplicate=False))
    tensors += list(model.named_buffers(remove_duplicate=False))
    for name, t in sorted(tensors, key=lambda kv: kv[0]):
        flat = t.detach().reshape(-1)
        data = flat.view(torch.uint8) if flat.numel() else flat
        s1 = s2 = 0
        step = 1 << 27
        for start in range(0, data.numel(), step):
            w = data[start:start + step].to(torch.int64)
            pos = torch.arange(start, start + w.numel(), device=w.device) % 65521 + 1
            s1 += int(w.sum()); s2 += int((w * pos).sum())
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|{t.device}|{s1}|{s2}\n".encode())
    ids = torch.tensor([args["input_ids"]], device=model.device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits
    raw = logits.detach().reshape(-1).contiguous().view(torch.uint8).cpu().numpy().tobytes()
    return digest.hexdigest(), hashlib.sha256(raw).hexdigest()

tensors_sum, logits_sha = checksum(model) if args["checksum"] else (None, None)
result = {"seconds": seconds, "tensors_checksum": tensors_sum, "logits_sha256": logits_sha,
          "outcome": outcome.to_dict() if outcome is not None else None,
          "training": model.training}
print("RESULT " + json.dumps(result), flush=True)
"""


def log(text: str) -> None:
    print(f"[load_speed {time.strftime('%H:%M:%S')}] {text}", flush=True)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --------------------------------------------------------------------------- page cache


def weight_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.safetensors"))


def cached_fraction(files: list[Path]) -> float | None:
    from console.host import loadspeed

    total, cached = loadspeed.cache_state(files)
    return cached / total if cached is not None and total else None


def drop_cache(files: list[Path]) -> tuple[str, float | None]:
    """Drop the files from the page cache; (how, fraction still cached)."""
    how = "drop_caches"
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("1\n")
    except OSError:
        how = "fadvise"
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return how, cached_fraction(files)


def read_files(files: list[Path]) -> tuple[int, float]:
    """One thread, in order, 16 MiB chunks: (bytes, seconds)."""
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    total = 0
    t0 = time.perf_counter()
    for path in files:
        with open(path, "rb", buffering=0) as fh:
            while True:
                n = fh.readinto(view)
                if not n:
                    break
                total += n
    return total, time.perf_counter() - t0


DISK_READERS = (1, 4, 8, 16)
DISK_PIECE = 64 * MIB
_ALIGN = 4096


def read_parallel(files: list[Path], readers: int, direct: bool,
                  limit: int | None = None) -> tuple[int, float]:
    """`readers` threads pulling 64 MiB pieces of the files (in file order) from one queue,
    each reading its piece with pread into its own buffer; buffered, or O_DIRECT (page-aligned
    buffers, aligned offsets; the last piece of a file may be short). (bytes, seconds)."""
    import mmap
    import queue

    pieces: queue.SimpleQueue[tuple[Path, int, int]] = queue.SimpleQueue()
    queued = 0
    for path in files:
        size = path.stat().st_size
        for offset in range(0, size, DISK_PIECE):
            if limit is not None and queued >= limit:
                break
            pieces.put((path, offset, min(DISK_PIECE, size - offset)))
            queued += min(DISK_PIECE, size - offset)
    flags = os.O_RDONLY | (os.O_DIRECT if direct else 0)
    totals = [0] * readers
    errors: list[BaseException] = []

    def work(index: int) -> None:
        buf = mmap.mmap(-1, DISK_PIECE)  # page-aligned: O_DIRECT takes it
        view = memoryview(buf)
        fds: dict[Path, int] = {}
        try:
            while True:
                try:
                    path, offset, length = pieces.get_nowait()
                except queue.Empty:
                    return
                fd = fds.get(path)
                if fd is None:
                    fd = fds[path] = os.open(path, flags)
                want = -(-length // _ALIGN) * _ALIGN if direct else length
                done = 0
                while done < length:
                    n = os.preadv(fd, [view[done:want]], offset + done)
                    if n <= 0:
                        break
                    done += n
                totals[index] += min(done, length)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            for fd in fds.values():
                os.close(fd)
            view.release()
            buf.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(readers)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"read failed: {type(errors[0]).__name__}: {errors[0]}")
    return sum(totals), seconds


def disk_rates(files: list[Path], readers: tuple[int, ...] = DISK_READERS,
               limit: int | None = None) -> list[dict[str, Any]]:
    """The disk's read rate for these files (their first `limit` bytes), cold, for each reader
    count, buffered and O_DIRECT: the best of them is the cold loads' peer."""
    rows: list[dict[str, Any]] = []
    for direct in (False, True):
        for n in readers:
            how, cached = drop_cache(files)
            row: dict[str, Any] = {"readers": n, "direct": direct, "cache": how,
                                   "cached_fraction": cached}
            if cached is None or cached > COLD_MAX_CACHED:
                row["error"] = f"cold: not possible ({how} left {cached} cached)"
            else:
                try:
                    nbytes, secs = read_parallel(files, n, direct, limit)
                    row.update(bytes=nbytes, seconds=secs, gb_per_s=nbytes / secs / 1e9)
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {exc}"[-300:]
            log(f"  disk: {n:>2} readers {'O_DIRECT' if direct else 'buffered':<8} "
                + (f"{row['gb_per_s']:.2f} GB/s" if "gb_per_s" in row else row["error"]))
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- RSS sampling


class RssSampler:
    """Peak RSS and anonymous-RSS growth of a process, sampled every 5 ms."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        info = self.proc.memory_info()
        self.base_rss = int(info.rss)
        self.base_anon = int(info.rss - getattr(info, "shared", 0))
        self.peak_rss = self.base_rss
        self.peak_anon = self.base_anon
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            try:
                info = self.proc.memory_info()
            except Exception:
                return
            self.peak_rss = max(self.peak_rss, int(info.rss))
            self.peak_anon = max(self.peak_anon, int(info.rss - getattr(info, "shared", 0)))

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(2)
        return {"rss_growth_bytes": self.peak_rss - self.base_rss,
                "anon_growth_bytes": self.peak_anon - self.base_anon}


# --------------------------------------------------------------------------- runs


def run_child(path: Path, device: str, *, fast: bool, options: dict[str, Any], cold: bool,
              checksum: bool) -> dict[str, Any]:
    files = weight_files(path)
    arg = json.dumps({"path": str(path), "device": device, "fast": fast, "options": options,
                      "checksum": checksum, "input_ids": INPUT_IDS})
    proc = subprocess.Popen([sys.executable, "-c", CHILD, arg], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("READY"):
                break
        else:
            raise RuntimeError("child ended before READY: " + (proc.stderr.read() if proc.stderr
                                                               else "")[-2000:])
        how, cached = drop_cache(files) if cold else ("warm", cached_fraction(files))
        sampler = RssSampler(proc.pid)
        proc.stdin.write("GO\n")
        proc.stdin.flush()
        memory: dict[str, int] = {}
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("LOADED"):
                memory = sampler.stop()
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
                break
        else:
            raise RuntimeError("child failed: " + (proc.stderr.read() if proc.stderr
                                                   else "")[-3000:])
    finally:
        proc.kill()
        proc.wait()
    outcome = result.get("outcome") or {}
    if outcome.get("rss_growth_bytes") is not None:  # the fast loader's own figures
        memory = {"rss_growth_bytes": outcome["rss_growth_bytes"],
                  "anon_growth_bytes": outcome["anon_growth_bytes"]}
        result["staging_bytes"] = outcome.get("staging_bytes")
        result["fast_load"] = outcome
        result["loader"] = outcome.get("loader")
    return {**result, **memory, "cache": how, "cached_fraction": cached}


def run_engine(path: Path, device: str, options: dict[str, Any], cold: bool) -> dict[str, Any]:
    from console.engines.local import EngineClient

    files = weight_files(path)
    client = EngineClient()
    client.start()
    try:
        hello = client.wait_for(("hello", "exited"), timeout=300)
        if hello["event"] != "hello":
            raise RuntimeError(f"engine did not start: {dict(hello)}")
        how, cached = drop_cache(files) if cold else ("warm", cached_fraction(files))
        options = dict(options)
        loader = options.pop("loader", "fast")
        msg_id = client.load(str(path), device=device, loader=loader, loader_options=options)
        loaded = client.wait_for(("loaded", "error", "exited"), reply_to=msg_id, timeout=900)
        if loaded["event"] != "loaded":
            raise RuntimeError(f"{loaded.get('error_type')}: {loaded.get('message')}")
    finally:
        client.close()
    fast = loaded.get("fast_load") or {}
    # RSS growth as the engine's loader saw it while streaming (the CUDA context, made at the
    # first load, is not in it)
    return {"seconds": loaded["weights_s"], "loader": loaded.get("loader"),
            "fallback_reason": loaded.get("fallback_reason"), "fast_load": fast,
            "staging_bytes": fast.get("staging_bytes"),
            "rss_growth_bytes": fast.get("rss_growth_bytes"),
            "anon_growth_bytes": fast.get("anon_growth_bytes"), "cache": how,
            "cached_fraction": cached}


VARIANTS: dict[str, dict[str, Any]] = {
    # what the engine picks: staging, window 16, 16 MiB pieces; warm 8 threads without
    # read-ahead, cold (< half cached) 1 thread with 512 MiB of read-ahead
    "default": {},
    "engine-stock": {"loader": "stock"},  # the guarded stock path (transformers, tensor by tensor)
    "w1-nora": {"window": 1, "readahead_bytes": 0},  # the first default: a barrier per tensor
    "w1": {"window": 1},
    "nora": {"readahead_bytes": 0},
    "w2": {"window": 2},
    "w4": {"window": 4},
    "w8": {"window": 8},
    "w32": {"window": 32},
    "t1": {"threads": 1},
    "t2": {"threads": 2},
    "t4": {"threads": 4},
    "t16": {"threads": 16},
    "t8-ra": {"threads": 8, "readahead_bytes": 512 * MIB},  # the cold default until session 3
    "c8": {"chunk_bytes": 8 * MIB},
    "c32": {"chunk_bytes": 32 * MIB},
    "staging-4": {"method": "staging", "threads": 4},
    "staging-16": {"method": "staging", "threads": 16},
    "staging-8-c4": {"method": "staging", "threads": 8, "chunk_bytes": 4 * MIB},
    "safe_open-4": {"method": "safe_open", "threads": 4},
    "safe_open-8": {"method": "safe_open", "threads": 8},
    "mmap-8": {"method": "mmap", "threads": 8},
    "mmap-16": {"method": "mmap", "threads": 16},
    "register-8": {"method": "register", "threads": 8},
    "direct-2": {"method": "direct", "threads": 2},
    "staging-2": {"method": "staging", "threads": 2},
    "mmap-2": {"method": "mmap", "threads": 2},
    "safe_open-2": {"method": "safe_open", "threads": 2},
}
GPU_EXTRA = ["w1-nora", "w4", "w32", "staging-16", "mmap-8", "safe_open-4", "staging-4", "w2",
             "staging-8-c4", "engine-stock", "register-8", "mmap-16", "safe_open-8"]
CPU_EXTRA = ["staging-2"]


def build(name: str, arch: str, overrides: Any, dest: Path, *, device: str, small: bool) -> Path:
    marker = dest / ".built"
    if marker.is_file():
        return dest
    if not small:
        need = 25 * GIB
        free = shutil.disk_usage(dest.parent if dest.parent.exists() else Path("/tmp")).free
        if free < need:
            raise RuntimeError(f"{dest.parent}: {free / GIB:.0f} GiB free, {name} needs ~"
                               f"{need / GIB:.0f} GiB")
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    arg = json.dumps({"arch": arch, "dest": str(dest), "overrides": overrides,
                      "dtype": "bfloat16", "device": device,
                      "shard": "40MB" if small else "5GB"})
    log(f"building {name} in {dest} on {device} ...")
    proc = subprocess.run([sys.executable, "-c", BUILD, arg], capture_output=True, text=True,
                          check=False, env=child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"build {name} failed:\n{proc.stderr[-3000:]}")
    marker.write_text("ok\n")
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="default cuda:0 (cpu with --small)")
    parser.add_argument("--small", action="store_true", help="small shapes (CPU dry run)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/autoglm-check"))
    parser.add_argument("--models", default="llama-8b,glm4v-9b")
    parser.add_argument("--variants", default=None,
                        help="engine variants beyond 'default', comma-separated (default: a "
                             "set that fits the budget)")
    parser.add_argument("--runs", type=int, default=2, help="warm runs of plain and default")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no new run after this many seconds (default 330; 45 with "
                             "--small)")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--cold-variants", default="t4,t8-ra,t16,nora",
                        help="engine variants also run cold, after the warm extras")
    parser.add_argument("--disk-gib", type=float, default=6.0,
                        help="bytes each disk-rate reading reads (0: the whole checkpoint)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    t_start = time.monotonic()
    if args.budget_s is None:
        args.budget_s = 45.0 if args.small else 330.0
    device = args.device or ("cpu" if args.small else "cuda:0")
    gpu = device.startswith("cuda")
    os.environ.setdefault("AUTOGLM_CONSOLE_CACHE_DIR", str(args.workdir / "console-cache"))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("AUTOGLM_CONSOLE_LOG_DIR", str(args.out / "logs"))
    runs = 1 if args.small else args.runs
    extra = (args.variants.split(",") if args.variants else (GPU_EXTRA if gpu else CPU_EXTRA))
    unknown = [v for v in extra if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")

    specs = {
        "llama-8b": ("llama", LLAMA_SMALL if args.small else LLAMA_8B),
        "glm4v-9b": ("glm4v", GLM4V_SMALL if args.small else "GLM4V_DEFAULTS"),
    }
    paths: dict[str, Path] = {}
    problems: list[str] = []
    for name in args.models.split(","):
        arch, overrides = specs[name]
        folder = f"{name}-small" if args.small else name
        try:
            paths[name] = build(name, arch, overrides, args.workdir / folder, device=device,
                                small=args.small)
        except Exception as exc:
            problems.append(f"{name}: {exc}")
            log(f"skipping {name}: {exc}")
    log(f"checkpoints ready after {time.monotonic() - t_start:.0f} s")

    # The plan, by priority: the key ratios first, extras while the budget lasts.
    plan: list[tuple[str, str, str, bool]] = []  # (model, variant, kind, cold)
    if args.no_cold:
        cold_first = []
    else:
        cold_first = [next(iter(paths))] if args.small and paths else list(paths)
    for name in paths:
        plan += [(name, "plain", "child", False), (name, "default", "engine", False)] * runs
        if name in cold_first and not args.small:
            plan += [(name, "raw-read", "read", True)]
            if name == cold_first[0]:  # the disk's rates: once, on the first model's files
                plan += [(name, "disk", "disk", True)]
            plan += [(name, "default", "engine", True)]
        plan += [(name, "fast-inproc", "child", False)]
    if args.small:  # every kind of run once, the cold ones on the first model
        plan += [(name, kind, how, True) for name in cold_first
                 for kind, how in (("raw-read", "read"), ("disk", "disk"), ("default", "engine"))]
    for name in paths:
        plan += [(name, v, "engine", False) for v in extra]
    if not args.no_cold and not args.small:
        cold_extra = [v for v in args.cold_variants.split(",") if v]
        plan += [(name, v, "engine", True) for name in paths for v in cold_extra]
        plan += [(name, "plain", "child", True) for name in paths]

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    warmed: set[str] = set()
    sizes = {name: sum(p.stat().st_size for p in weight_files(path)) for name,
             path in paths.items()}
    for name, variant, kind, cold in plan:
        label = f"{name} {variant} {'cold' if cold else 'warm'}"
        if time.monotonic() - t_start > args.budget_s:
            skipped.append(label)
            continue
        path = paths[name]
        files = weight_files(path)
        if not cold and name not in warmed:
            nbytes, secs = read_files(files)
            log(f"{name}: warmed the page cache ({nbytes / secs / 1e9:.2f} GB/s); "
                f"{100 * (cached_fraction(files) or 0):.0f}% cached")
            warmed.add(name)
        if cold:  # drop_caches (as root) empties the whole page cache, every model's
            warmed.clear()
        log(f"run: {label}")
        row: dict[str, Any] = {"model": name, "variant": variant, "cold": cold,
                               "bytes": sizes[name]}
        try:
            if kind == "disk":
                sweep = disk_rates(files, (1, 4) if args.small else DISK_READERS,
                                   int(args.disk_gib * GIB) if args.disk_gib else None)
                row["disk"] = sweep
                best = max((r for r in sweep if "gb_per_s" in r), default=None,
                           key=lambda r: r["gb_per_s"])
                if best is None:
                    row["error"] = "; ".join(sorted({r["error"] for r in sweep}))
                else:
                    row.update(seconds=sizes[name] / (best["gb_per_s"] * 1e9),
                               best_readers=best["readers"], best_direct=best["direct"])
            elif kind == "read":
                how, cached = drop_cache(files)
                row.update(cache=how, cached_fraction=cached)
                if cached is None or cached > COLD_MAX_CACHED:
                    row["error"] = f"cold: not possible ({how} left {cached} cached)"
                else:
                    nbytes, secs = read_files(files)
                    row.update(seconds=secs)
            elif kind == "child":
                fast = variant == "fast-inproc"
                row.update(run_child(path, device, fast=fast, options={}, cold=cold,
                                     checksum=not cold))
            else:
                row.update(run_engine(path, device, VARIANTS[variant], cold))
            if cold and row.get("cached_fraction") is not None \
                    and row["cached_fraction"] > COLD_MAX_CACHED:
                row["error"] = f"cold: not possible ({row['cache']} left " \
                               f"{100 * row['cached_fraction']:.0f}% cached)"
            if not cold and kind != "read" and row.get("cached_fraction") is not None \
                    and row["cached_fraction"] < WARM_MIN_CACHED:
                row["error"] = (f"warm: only {100 * row['cached_fraction']:.0f}% cached "
                                "before the load")
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"[-600:]
            log(f"  failed: {row['error']}")
        if row.get("seconds"):
            row["gb_per_s"] = row["bytes"] / row["seconds"] / 1e9
            log(f"  {row['seconds']:.2f} s, {row['gb_per_s']:.2f} GB/s")
        rows.append(row)

    summary = summarise(rows, gpu)
    print_table(summary, rows, device)
    if skipped:
        print(f"skipped (budget {args.budget_s:.0f} s): {', '.join(skipped)}")
    for problem in problems:
        print(f"problem: {problem}")
    total_s = time.monotonic() - t_start
    print(f"total {total_s:.0f} s")
    if args.out:
        (args.out / "load_speed.json").write_text(json.dumps(
            {"device": device, "small": args.small, "rows": rows, "summary": summary,
             "skipped": skipped, "problems": problems, "total_s": total_s}, indent=2,
            default=str))
    return 0


def _median(rows: list[dict[str, Any]], **match: Any) -> float | None:
    values = [r["seconds"] for r in rows if r.get("seconds") and not r.get("error")
              and all(r.get(k) == v for k, v in match.items())]
    return statistics.median(values) if values else None


def summarise(rows: list[dict[str, Any]], gpu: bool) -> list[dict[str, Any]]:
    """Per model and variant: median seconds, GB/s, ratio vs plain (warm) / raw read (cold),
    RSS, parity vs plain, and the targets."""
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        nbytes = mine[0]["bytes"]
        plain_warm = _median(mine, variant="plain", cold=False)
        raw_cold = _median(mine, variant="raw-read", cold=True)
        # the cold peer: the disk's best rate over 1-16 readers, buffered and O_DIRECT; one
        # sequential reader when the sweep did not run
        best_row = next((r for r in rows if r["variant"] == "disk" and r.get("seconds")), None)
        best_cold = (nbytes * best_row["seconds"] / best_row["bytes"]) if best_row else raw_cold
        plain_sum = next((r.get("tensors_checksum") for r in mine
                          if r["variant"] == "plain" and r.get("tensors_checksum")), None)
        plain_logits = next((r.get("logits_sha256") for r in mine
                             if r["variant"] == "plain" and r.get("logits_sha256")), None)
        for variant, cold in dict.fromkeys((r["variant"], r["cold"]) for r in mine):
            group = [r for r in mine if r["variant"] == variant and r["cold"] == cold]
            seconds = _median(mine, variant=variant, cold=cold)
            errors = sorted({r["error"] for r in group if r.get("error")})
            entry: dict[str, Any] = {
                "model": name, "variant": variant, "cache": "cold" if cold else "warm",
                "runs": len([r for r in group if r.get("seconds") and not r.get("error")]),
                "seconds": seconds, "gb_per_s": nbytes / seconds / 1e9 if seconds else None,
                "errors": errors,
            }
            base = best_cold if cold else plain_warm
            is_peer = variant in ("plain", "raw-read", "disk")
            if seconds and base and (not is_peer or (cold and variant in ("plain", "raw-read"))):
                entry["ratio"] = base / seconds
                entry["ratio_vs"] = ("plain" if not cold else "raw read" if best_row is None else
                                     f"disk best ({best_row['best_readers']} readers, "
                                     f"{'O_DIRECT' if best_row['best_direct'] else 'buffered'})")
            if variant == "disk":
                entry["disk"] = group[0].get("disk")
            anon = [r["anon_growth_bytes"] for r in group
                    if r.get("anon_growth_bytes") is not None]
            rss = [r["rss_growth_bytes"] for r in group
                   if r.get("rss_growth_bytes") is not None]
            entry["anon_growth_bytes"] = max(anon) if anon else None
            entry["rss_growth_bytes"] = max(rss) if rss else None
            bound = [r["staging_bytes"] for r in group if r.get("staging_bytes") is not None]
            entry["staging_bound_bytes"] = max(bound) if bound else None
            if gpu and entry["staging_bound_bytes"] is not None and rss:
                # the weights are on the GPU: host RSS may grow by the staging buffers (and
                # interpreter noise), not by the model
                entry["rss_bounded"] = max(rss) <= entry["staging_bound_bytes"] + RSS_SLACK
            sums = {r["tensors_checksum"] for r in group if r.get("tensors_checksum")}
            if sums and plain_sum:
                logits = {r["logits_sha256"] for r in group if r.get("logits_sha256")}
                entry["parity"] = sums == {plain_sum} and logits == {plain_logits}
            loaders = {r["loader"] for r in group if r.get("loader")}
            if loaders:
                entry["loader"] = ",".join(sorted(loaders))
            methods = {m for r in group
                       if (m := (r.get("fast_load") or {}).get("method")) is not None}
            if methods:
                entry["method"] = ",".join(sorted(methods))
            if variant == "default" and not cold and "ratio" in entry:
                entry["target"] = "warm >= 3x plain"
                entry["met"] = entry["ratio"] >= 3.0
            if variant == "default" and cold and "ratio" in entry:
                entry["target"] = f"cold >= 0.95x {entry['ratio_vs']}"
                entry["met"] = entry["ratio"] >= 0.95
            out.append(entry)
    return out


def print_table(summary: list[dict[str, Any]], rows: list[dict[str, Any]], device: str) -> None:
    from console.core.units import fmt_bytes

    print()
    print(f"load speed on {device}: median seconds, GB/s of checkpoint bytes; ratio = peer "
          "seconds / these (warm: vs plain from_pretrained; cold: vs the disk's best rate, "
          "or one sequential reader)")
    header = (f"{'model':<10} {'variant':<14} {'cache':<5} {'n':>2} {'seconds':>8} "
              f"{'GB/s':>7} {'ratio':>7}  {'RSS+':>10} {'anon+':>10} {'bound':>10} "
              f"{'parity':>6}  target")
    print(header)
    print("-" * len(header))
    for e in summary:
        secs = f"{e['seconds']:.2f}" if e["seconds"] else "-"
        rate = f"{e['gb_per_s']:.2f}" if e["gb_per_s"] else "-"
        ratio = f"{e['ratio']:.2f}x" if e.get("ratio") else "-"
        anon = fmt_bytes(e["anon_growth_bytes"]) if e["anon_growth_bytes"] is not None else "-"
        rss = fmt_bytes(e["rss_growth_bytes"]) if e["rss_growth_bytes"] is not None else "-"
        if "rss_bounded" in e:
            rss += "" if e["rss_bounded"] else "!"
        bound = fmt_bytes(e["staging_bound_bytes"]) if e["staging_bound_bytes"] else "-"
        parity = {True: "same", False: "DIFF", None: "-"}[e.get("parity")]
        target = ""
        if "met" in e:
            target = f"{e['target']}: {'met' if e['met'] else 'NOT met'}"
        print(f"{e['model']:<10} {e['variant']:<14} {e['cache']:<5} {e['runs']:>2} {secs:>8} "
              f"{rate:>7} {ratio:>7}  {rss:>10} {anon:>10} {bound:>10} {parity:>6}  {target}")
        for error in e["errors"]:
            print(f"{'':<10} ! {error[:160]}")
    for e in summary:
        if e.get("disk"):
            print(f"\n{e['model']}: the disk's cold read rate (GB/s), 64 MiB pieces from one queue")
            print(f"{'readers':>8} {'buffered':>9} {'O_DIRECT':>9}")
            by = {(r["readers"], r["direct"]): r for r in e["disk"]}
            for n in dict.fromkeys(r["readers"] for r in e["disk"]):
                cells = [by.get((n, d), {}) for d in (False, True)]
                print(f"{n:>8} " + " ".join(f"{c['gb_per_s']:>9.2f}" if "gb_per_s" in c
                                            else f"{'-':>9}" for c in cells))
    print()
    print("RSS+ / anon+ = peak growth of the loading process's host RSS during the load, all / "
          "without file-backed pages (fast rows: measured by the loader per tensor; plain: "
          "sampled every 5 ms from here); bound = the fast loader's staging buffers (threads x "
          "2 x chunk); '!' = RSS+ above bound + 64 MiB (on a GPU). On the CPU the weights "
          "themselves are host memory, and without a dtype cast the engine's loader auto keeps "
          "transformers' zero-copy mapping there (these rows force the fast loader).")


if __name__ == "__main__":
    # server logs, model text and child stderr are printed: made terminal-safe
    from console.core.termsafe import safe_std_streams

    with safe_std_streams():
        sys.exit(main())
