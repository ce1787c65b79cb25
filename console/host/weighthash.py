"""What a model *is*, hashed at disk speed: every weight file's header and each tensor's bytes.

Per safetensors file the header (8-byte length + JSON) is hashed as it is on disk, then each
tensor's bytes. Cold (the file not in the page cache: the disk is the limit), one sequential
pass reads the data region in large chunks into one reused buffer and feeds each chunk's slices
to the hash of the tensor they belong to (tensors sorted by offset). Warm (mincore says the
file is cached), the tensors are hashed straight from a read-only mapping, no copy, spread over
threads: xxh3-128 releases the GIL and runs at about the page cache's copy rate per core
(benchmarks/fingerprint_speed.py measures both against a raw read of the same files).

Other files of the model (config, tokenizer, processor) are hashed whole with sha256; a
`.bin`/`.pt` pickle is hashed as bytes, never unpickled.

App side: no torch, no safetensors package; the header is validated by the core reader.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from console.core.preflight import read_safetensors_header

CHUNK_BYTES = 16 << 20
# Warm (the file in the page cache): hash from a mapping, tensors over this many threads.
WARM_FRACTION = 0.9
HASH_THREADS = max(1, min(8, os.cpu_count() or 1))
POOL_MIN_BYTES = 256 << 20  # below this a file is hashed on the calling thread
TENSOR_HASH = "xxh3_128"
# Files that decide how text becomes tokens and tokens become an answer.
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json",
)
CONFIG_FILES = ("config.json", "generation_config.json", "preprocessor_config.json",
                "processor_config.json", "video_preprocessor_config.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")

Progress = Callable[[int, int, float], None]  # bytes done, bytes total, seconds since start


class WeightHashError(Exception):
    """A weight file could not be hashed (unreadable, or a header the core reader refused)."""


@dataclass(frozen=True, slots=True)
class FileHash:
    name: str
    size: int
    header_sha256: str | None  # safetensors only
    sha256: str | None  # whole-file hash for non-safetensors files
    tensors: dict[str, str] = field(default_factory=dict)  # name -> xxh3-128 hex of its bytes
    dtypes: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelHash:
    files: tuple[FileHash, ...]
    config: dict[str, str]  # file -> sha256
    tokenizer: dict[str, str]  # file -> sha256
    bytes_total: int
    seconds: float  # the whole hash: weights, config and tokenizer files
    weights_seconds: float = 0.0  # the weight files alone (the rate's denominator)

    @property
    def rate_bytes_per_s(self) -> float | None:
        """The weight files' hashing rate (what a raw read of the same files is compared with)."""
        s = self.weights_seconds or self.seconds
        return self.bytes_total / s if s > 0 else None

    def tensors(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.files:
            out.update(f.tensors)
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "tensor_hash": TENSOR_HASH,
            "config": self.config,
            "tokenizer": self.tokenizer,
            "files": [
                {"name": f.name, "size": f.size, "header_sha256": f.header_sha256,
                 "sha256": f.sha256, "tensors": f.tensors, "dtypes": f.dtypes,
                 "shapes": f.shapes}
                for f in self.files
            ],
            "bytes_total": self.bytes_total,
            "seconds": round(self.seconds, 4),
            "weights_seconds": round(self.weights_seconds, 4),
        }


def sha256_file(path: Path, buf: bytearray | None = None) -> str:
    h = hashlib.sha256()
    buf = buf if buf is not None else bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(view):
            h.update(view[:n])
    return h.hexdigest()


def weight_files(model_dir: Path) -> list[Path]:
    """The weight files of a model directory, in name order (shards sort by index)."""
    return sorted(p for p in model_dir.iterdir()
                  if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def _page_cached(path: Path) -> bool:
    """Whether (nearly) all of `path` is in the page cache now (mincore over evenly spread
    windows); False if unknown."""
    from console.host.loadspeed import cached_sample

    fraction = cached_sample(path)
    return fraction is not None and fraction >= WARM_FRACTION


def _hash_mapped(path: Path, start: int, spans: list[tuple[int, int, str]],
                 hashers: dict[str, Any], on_bytes: Callable[[int], None]) -> None:
    """Warm: hash each tensor straight from a read-only mapping of the page cache (no copy),
    tensors spread over threads (xxhash releases the GIL while it hashes)."""
    lock = threading.Lock()
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            def one(span: tuple[int, int, str]) -> None:
                b, e, name = span
                hashers[name].update(view[start + b:start + e])
                with lock:
                    on_bytes(e - b)

            if HASH_THREADS == 1 or len(view) < POOL_MIN_BYTES:
                for span in spans:  # a small file: a pool would cost more than it saves
                    one(span)
            else:
                biggest_first = sorted(spans, key=lambda sp: sp[0] - sp[1])
                with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
                    list(pool.map(one, biggest_first))
        finally:
            view.release()


def hash_safetensors(path: Path, *, buf: bytearray, on_bytes: Callable[[int], None],
                     mapped: bool | None = None) -> FileHash:
    """One file's header hash and per-tensor hashes. `mapped`: hash from the page cache
    through a mapping (default: when the file is cached), else one sequential read pass."""
    header, findings = read_safetensors_header(path)
    if header is None:
        reason = "; ".join(f.problem for f in findings) or "unreadable header"
        raise WeightHashError(f"{path.name}: {reason}")
    start = 8 + header.header_bytes
    spans = sorted((b, e, name) for name, (b, e) in header.data_offsets.items())
    hashers = {name: xxhash.xxh3_128() for _, _, name in spans}
    if mapped is None:
        mapped = _page_cached(path)
    if mapped:
        with path.open("rb", buffering=0) as fh:
            head = fh.read(start)
        on_bytes(len(head))
        _hash_mapped(path, start, spans, hashers, on_bytes)
        return _file_hash(path, header, hashlib.sha256(head).hexdigest(), hashers)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        head = fh.read(start)
        on_bytes(len(head))
        header_sha = hashlib.sha256(head).hexdigest()
        pos = 0  # offset inside the data region of view[0]
        i = 0
        while i < len(spans):
            if spans[i][0] == spans[i][1] and spans[i][0] <= pos:  # an empty tensor
                i += 1
                continue
            n = fh.readinto(view)
            if not n:
                raise WeightHashError(f"{path.name}: ends inside tensor {spans[i][2]!r}")
            end = pos + n
            # Spans are sorted and never overlap (the core reader checks): feed each one that
            # meets [pos, end), and move past those that end inside this chunk.
            while i < len(spans) and spans[i][0] < end:
                b, e, name = spans[i]
                lo, hi = max(b, pos), min(e, end)
                if hi > lo:
                    hashers[name].update(view[lo - pos:hi - pos])
                if e > end:
                    break
                i += 1
            pos = end
            on_bytes(n)
    return _file_hash(path, header, header_sha, hashers)


def _file_hash(path: Path, header: Any, header_sha: str, hashers: dict[str, Any]) -> FileHash:
    specs = {t.name: t for t in header.tensors}
    return FileHash(
        name=path.name, size=header.file_size_bytes, header_sha256=header_sha, sha256=None,
        tensors={name: h.hexdigest() for name, h in sorted(hashers.items())},
        dtypes={name: specs[name].dtype for name in hashers if name in specs},
        shapes={name: list(specs[name].shape) for name in hashers if name in specs},
    )


def _hash_named(model_dir: Path, names: Iterable[str], buf: bytearray) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        p = model_dir / name
        if p.is_file():
            out[name] = sha256_file(p, buf)
    return out


def hash_model(model_dir: Path, *, progress: Progress | None = None,
               chunk_bytes: int = CHUNK_BYTES) -> ModelHash:
    """Hash a model directory's config, tokenizer and weights in one streaming pass each."""
    t0 = time.perf_counter()
    files = weight_files(model_dir)
    total = sum(p.stat().st_size for p in files)
    done = 0
    buf = bytearray(chunk_bytes)

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total, time.perf_counter() - t0)

    hashed: list[FileHash] = []
    for p in files:
        try:
            if p.name.endswith(".safetensors"):
                hashed.append(hash_safetensors(p, buf=buf, on_bytes=on_bytes))
            else:  # pickles and gguf: bytes only, never parsed
                digest = sha256_file(p, buf)
                on_bytes(p.stat().st_size)
                hashed.append(FileHash(p.name, p.stat().st_size, None, digest))
        except OSError as exc:
            raise WeightHashError(f"{p}: {exc.strerror or exc}") from None
    weights_seconds = time.perf_counter() - t0
    config = _hash_named(model_dir, CONFIG_FILES, buf)
    tokenizer = _hash_named(model_dir, TOKENIZER_FILES, buf)
    return ModelHash(tuple(hashed), config, tokenizer, done, time.perf_counter() - t0,
                     weights_seconds)


def raw_read(paths: Iterable[Path], chunk_bytes: int = CHUNK_BYTES) -> tuple[int, float]:
    """Read files the way `hash_model` does, hashing nothing: (bytes, seconds). The peer."""
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    t0 = time.perf_counter()
    n_total = 0
    for p in paths:
        with p.open("rb", buffering=0) as fh:
            while n := fh.readinto(view):
                n_total += n
    return n_total, time.perf_counter() - t0


def config_summary(model_dir: Path) -> dict[str, object]:
    """The config fields that change numerics, for the compare's evidence."""
    try:
        cfg = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    keys = ("model_type", "architectures", "torch_dtype", "dtype", "vocab_size", "hidden_size",
            "num_hidden_layers", "rope_theta", "rms_norm_eps", "max_position_embeddings")
    return {k: cfg[k] for k in keys if k in cfg} if isinstance(cfg, dict) else {}


def file_rate_line(done: int, total: int, seconds: float) -> str:
    rate = done / seconds / 1e9 if seconds > 0 else 0.0
    pct = 100.0 * done / total if total else 100.0
    return f"hashing weights {pct:5.1f}%  {done / 1e9:.2f}/{total / 1e9:.2f} GB  {rate:.2f} GB/s"


__all__ = ["FileHash", "ModelHash", "WeightHashError", "config_summary", "file_rate_line",
           "hash_model", "hash_safetensors", "raw_read", "sha256_file", "weight_files"]

