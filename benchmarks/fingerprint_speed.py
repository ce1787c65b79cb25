#!/usr/bin/env python3
"""The migration check's hashing rate against the raw read rate of the same files, and the
whole `fingerprint` time, for the demo and a ~1 GB model. Prints a table.

    .venv/bin/python benchmarks/fingerprint_speed.py [--size-gb 1.0] [--runs 3] [--no-cli]

Warm: the files are read once first, so both sides read from the page cache. Cold: before
each run every file is dropped from the page cache with posix_fadvise(DONTNEED) (no root
needed; a file that is still mapped elsewhere may stay cached: the table says how much was
cached when the run started). The peer is `raw_read`: the same sequential 16 MiB reads into
one buffer, hashing nothing. The hashing rate is the weight files' (their bytes over the time
spent on them; the config and tokenizer files are hashed too, and timed in the last table).
The ~1 GB model is a random-weight Llama built once under the user cache dir.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from console.host import paths  # noqa: E402
from console.host.weighthash import hash_model, raw_read, weight_files  # noqa: E402


def drop_cache(files: list[Path]) -> None:
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cached_fraction(files: list[Path]) -> float | None:
    from console.host.loadspeed import cache_state

    total, cached = cache_state(files)
    return cached / total if cached is not None and total else None


def build_big(size_gb: float) -> Path:
    dest = paths.cache_dir() / f"bench-llama-{size_gb:g}gb"
    if (dest / "config.json").exists() and weight_files(dest):
        return dest
    from console.worker import tinymodels

    hidden = 1024
    layers = max(1, int(size_gb * 1e9 / (12 * hidden * hidden * 4)))
    tinymodels.build("llama", dest, dtype="float32", overrides={
        "hidden_size": hidden, "intermediate_size": 4 * hidden, "num_hidden_layers": layers,
        "num_attention_heads": 16, "num_key_value_heads": 16})
    return dest


def measure(model: Path, runs: int, cold: bool) -> dict[str, float | None]:
    files = weight_files(model)
    size = sum(f.stat().st_size for f in files)
    hash_rates, raw_rates, cached = [], [], []
    for _ in range(runs):
        for which in ("raw", "hash"):
            if cold:
                drop_cache(files)
            else:
                raw_read(files)  # warm
            cached.append(cached_fraction(files) or 0.0)
            if which == "raw":
                n, s = raw_read(files)
                raw_rates.append(n / s)
            else:
                h = hash_model(model)
                hash_rates.append(h.rate_bytes_per_s or 0.0)
    return {"bytes": size, "hash": statistics.median(hash_rates),
            "raw": statistics.median(raw_rates),
            "cached": statistics.median(cached) if cached else None}


def cli_seconds(model: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fp.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "console.cli", "fingerprint", str(model), "--out",
                        str(out), "--device", "cpu", "--dtype", "fp32"], cwd=REPO, check=True,
                       capture_output=True)
        seconds = time.perf_counter() - t0
        json.loads(out.read_text())
        return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-cli", action="store_true", help="skip the whole-command timing")
    args = ap.parse_args()
    from console.host.demo_model import resolve_demo

    models = {"demo": resolve_demo(), f"llama ~{args.size_gb:g} GB": build_big(args.size_gb)}
    print(f"{'model':<16}{'cache':<7}{'size':>10}{'hash GB/s':>11}{'raw GB/s':>10}"
          f"{'ratio':>7}{'cached':>8}")
    for name, model in models.items():
        for cold in (False, True):
            r = measure(model, args.runs, cold)
            hash_rate, raw_rate = float(r["hash"] or 0), float(r["raw"] or 0)
            print(f"{name:<16}{'cold' if cold else 'warm':<7}{float(r['bytes'] or 0) / 1e9:>9.2f}G"
                  f"{hash_rate / 1e9:>11.2f}{raw_rate / 1e9:>10.2f}"
                  f"{hash_rate / raw_rate:>7.2f}{(r['cached'] or 0) * 100:>7.0f}%")
    if not args.no_cli:
        print()
        print(f"{'model':<16}{'fingerprint (whole command, s)':>32}")
        for name, model in models.items():
            print(f"{name:<16}{cli_seconds(model):>32.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
