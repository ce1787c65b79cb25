"""How fast a load will be here: what the page cache holds of a checkpoint, and the rates past
loads achieved (warm = from the page cache, cold = from the disk), for the estimate's "time to
load" (`console.core.estimate.load_seconds`).

- `cached_bytes(path)`: the bytes of a file in the page cache, from `mincore(2)` on a read-only
  mapping (ctypes; Linux). Nothing is read; about a millisecond per GB.
- `record(...)`: the engine appends each completed load's rate (checkpoint bytes / seconds in
  `from_pretrained`) to `cache_dir()/load_speed.json`, keyed by loader ("fast" / "stock"),
  device kind ("cuda" / "cpu") and cache state ("warm": at least 90% cached before the load;
  "cold": at most 10%; loads in between and loads under 64 MiB are not recorded: they say
  little about either rate).
- `time_to_load(...)`: the median of the last five recorded rates of each kind, or the
  defaults measured on the H100 host (../shared/FACTS.md) until this machine has its own.

No torch here: the app side (check, the TUI) uses it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import mmap
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core.estimate import load_seconds
from console.host import paths

FILE_NAME = "load_speed.json"
KEEP = 5  # rates kept per kind
MIN_RECORD_BYTES = 64 * 1024**2
WARM_FRACTION = 0.9
COLD_FRACTION = 0.1
# Until this machine has measured its own: `from_pretrained` of an 8B bf16 model in a fresh
# process on the H100 host, page cache warm ~7 GB/s, cold ~1.3 GB/s (the disk).
DEFAULT_WARM_BYTES_PER_S = 7.0e9
DEFAULT_COLD_BYTES_PER_S = 1.3e9


def libc_mapping() -> Any:
    """The C library with mmap, munmap, madvise and mincore typed for 64-bit addresses (the
    mappings this project makes outside Python's mmap module: mincore, cudaHostRegister)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    return libc


@contextlib.contextmanager
def _mapping(path: Path, size: int) -> Iterator[tuple[Any, int] | None]:
    """(libc, address) of a read-only mapping of `path` (never touched, so nothing is read),
    or None where it cannot be made."""
    if not sys.platform.startswith("linux"):
        yield None
        return
    try:
        libc = libc_mapping()
        fd = os.open(path, os.O_RDONLY)
    except (OSError, AttributeError):
        yield None
        return
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            yield None
            return
        try:
            yield libc, addr
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)


def _resident_pages(libc: Any, addr: int, length: int) -> int | None:
    pages = -(-length // mmap.PAGESIZE)
    vector = (ctypes.c_ubyte * pages)()
    if libc.mincore(addr, length, vector) != 0:
        return None
    # bit 0 of each byte: that page is resident (the other bits are reserved)
    return pages - bytes(vector).count(0)


def cached_bytes(path: Path) -> int | None:
    """Bytes of `path` resident in the page cache, or None where it cannot be told."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size == 0:
        return 0
    with _mapping(path, size) as mapped:
        if mapped is None:
            return None
        resident = _resident_pages(*mapped, size)
        return None if resident is None else min(size, resident * mmap.PAGESIZE)


def cached_sample(path: Path, windows: int = 32, window_bytes: int = 1 << 20) -> float | None:
    """The fraction of `windows` evenly spread windows of `path` resident in the page cache:
    a cheap estimate of `cached_bytes(path) / size` for a large file (a full mincore of a
    16 GB shard walks 4 M pages); None where it cannot be told."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size <= windows * window_bytes:
        full = cached_bytes(path)
        return None if full is None else (full / size if size else 1.0)
    step = (size - window_bytes) // (windows - 1)
    step -= step % mmap.PAGESIZE
    with _mapping(path, size) as mapped:
        if mapped is None:
            return None
        libc, addr = mapped
        resident = 0
        for i in range(windows):
            part = _resident_pages(libc, addr + i * step, window_bytes)
            if part is None:
                return None
            resident += part
        return resident / (windows * (window_bytes // mmap.PAGESIZE))


def cache_state(files: list[Path]) -> tuple[int, int | None]:
    """(total bytes, bytes in the page cache or None when unknown) of `files`."""
    total = 0
    cached: int | None = 0
    for path in files:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
        part = cached_bytes(path)
        cached = None if part is None or cached is None else cached + part
    return total, cached


def _key(loader: str, device_kind: str, state: str) -> str:
    return f"{loader}/{device_kind}/{state}"


def _state(cached_fraction: float | None) -> str | None:
    if cached_fraction is None:
        return None
    if cached_fraction >= WARM_FRACTION:
        return "warm"
    if cached_fraction <= COLD_FRACTION:
        return "cold"
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(loader: str, device_kind: str, *, cached_fraction: float | None, nbytes: int,
           seconds: float, path: Path | None = None) -> bool:
    """Keep this load's rate for next time; False when it says nothing about either rate."""
    state = _state(cached_fraction)
    if state is None or nbytes < MIN_RECORD_BYTES or seconds <= 0:
        return False
    path = path or paths.cache_dir() / FILE_NAME
    data = _read(path)
    rates = data.setdefault("rates", {})
    entries = rates.setdefault(_key(loader, device_kind, state), [])
    entries.append({"bytes_per_s": nbytes / seconds, "bytes": nbytes, "seconds": seconds,
                    "ts": time.time()})
    del entries[:-KEEP]
    data["version"] = 1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(path)
    except OSError:
        return False
    return True


def measured_rate(loader: str, device_kind: str, state: str, path: Path | None = None
                  ) -> float | None:
    """Median of the last recorded rates of this kind, or None."""
    data = _read(path or paths.cache_dir() / FILE_NAME)
    entries = (data.get("rates") or {}).get(_key(loader, device_kind, state)) or []
    values = [float(e["bytes_per_s"]) for e in entries
              if isinstance(e, dict) and isinstance(e.get("bytes_per_s"), (int, float))
              and e["bytes_per_s"] > 0]
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class LoadTime:
    seconds: float
    total_bytes: int
    cached_bytes: int | None  # None: unknown (counted as cold)
    warm_bytes_per_s: float
    cold_bytes_per_s: float
    warm_source: str  # "measured" | "default"
    cold_source: str

    def to_json_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def line(self) -> str:
        cached = ("page cache unknown" if self.cached_bytes is None else
                  f"{100.0 * self.cached_bytes / self.total_bytes:.0f}% in the page cache"
                  if self.total_bytes else "empty")
        return (f"~{self.seconds:.1f} s ({cached}; {self.warm_bytes_per_s / 1e9:.1f} GB/s "
                f"warm {self.warm_source}, {self.cold_bytes_per_s / 1e9:.2f} GB/s cold "
                f"{self.cold_source})")


def time_to_load(files: list[Path], loader: str = "fast", device_kind: str = "cuda",
                 path: Path | None = None) -> LoadTime:
    """The expected load time of `files` here now."""
    total, cached = cache_state(files)
    rates = {}
    sources = {}
    defaults = {"warm": DEFAULT_WARM_BYTES_PER_S, "cold": DEFAULT_COLD_BYTES_PER_S}
    for state in ("warm", "cold"):
        rate = measured_rate(loader, device_kind, state, path)
        if rate is None and loader != "stock":  # the stock path's rate is a floor for ours
            rate = measured_rate("stock", device_kind, state, path)
        rates[state] = rate if rate is not None else defaults[state]
        sources[state] = "measured" if rate is not None else "default"
    seconds = load_seconds(total, cached or 0, rates["warm"], rates["cold"])
    return LoadTime(seconds, total, cached, rates["warm"], rates["cold"], sources["warm"],
                    sources["cold"])
