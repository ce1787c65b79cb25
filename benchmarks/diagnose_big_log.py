#!/usr/bin/env python3
"""`diagnose` on a big log: wall time and peak RSS of the real command, per code version.

    .venv/bin/python benchmarks/diagnose_big_log.py [--mib 200] [--repo DIR ...] [--keep]

Writes a log of about --mib MiB (training-style lines, a CUDA OOM traceback in the middle and
at the end), then runs `python -m console.cli diagnose LOG` with each --repo on PYTHONPATH
(default: this checkout; add an extracted older commit, e.g.
`git archive 23d1ea7 | tar -x -C /tmp/base`, to compare) and `diagnose - < /dev/zero` (an
endless stream: must stop at its bound). Peak RSS is the child's ru_maxrss (os.wait4).
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TRACEBACK = """Traceback (most recent call last):
  File "/app/train.py", line 88, in <module>
    loss = model(**batch).loss
  File "/usr/lib/python3/site-packages/torch/nn/modules/module.py", line 1751, in _call_impl
    return forward_call(*args, **kwargs)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total \
capacity of 79.19 GiB of which 1.02 GiB is free. Of the allocated memory 75.10 GiB is \
allocated by PyTorch, and 1.20 GiB is reserved by PyTorch but unallocated.
"""


def write_log(path: Path, mib: int) -> int:
    target = mib * 1024 * 1024
    line = ("2026-12-04 10:00:{s:02d},123 INFO trainer.py:512 step {n} loss 2.{n:04d} "
            "lr 3.0e-05 grad_norm 0.87 tokens/s 12345 mem 71.2GiB\n")
    written = 0
    n = 0
    with path.open("w") as fh:
        while written < target:
            chunk = "".join(line.format(s=i % 60, n=n + i) for i in range(10_000))
            n += 10_000
            fh.write(chunk)
            written += len(chunk)
            if target // 2 <= written < target // 2 + len(chunk):
                fh.write(TRACEBACK)
        fh.write(TRACEBACK)
    return path.stat().st_size


def measure(repo: Path, argv: list[str], stdin: int | None = None,
            limit_gib: float = 3.0, timeout_s: float = 600) -> tuple[float, float, str]:
    """(wall s, peak RSS MiB, note) of one run; address space capped at `limit_gib` so an
    unbounded read fails instead of taking the machine."""
    env = dict(os.environ, PYTHONPATH=str(repo))
    limit = int(limit_gib * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.cli", *argv], env=env, stdin=stdin, stdout=out,
            stderr=err, preexec_fn=cap)  # noqa: PLW1509 - this script starts no threads
        deadline = start + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        first = (out.read().decode(errors="replace").splitlines() or [""])[0]
        tail = err.read().decode(errors="replace").strip().splitlines()
    note = f"rc {proc.returncode}: " + first[:50] + (" | " + tail[-1][:90] if tail else "")
    return wall, usage.ru_maxrss / 1024, note


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--repo", action="append", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    args = parser.parse_args()
    repos = args.repo or [ROOT]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "big.log"
        size = write_log(log, args.mib)
        print(f"log: {size / 2**20:.0f} MiB, {sum(1 for _ in log.open('rb')):,} lines")
        print(f"{'code':<28} {'input':<12} {'wall s':>8} {'peak RSS MiB':>13} {'RSS/size':>9}  "
              "first line of output")
        for repo in repos:
            wall, rss, note = measure(repo, ["diagnose", str(log)])
            print(f"{str(repo)[-28:]:<28} {'200 MB file' if args.mib == 200 else 'file':<12} "
                  f"{wall:8.1f} {rss:13.0f} {rss * 2**20 / size:9.2f}  {note}")
        for repo in repos:
            with open("/dev/zero", "rb") as zero:
                wall, rss, note = measure(repo, ["diagnose", "-"], stdin=zero.fileno())
            print(f"{str(repo)[-28:]:<28} {'/dev/zero':<12} {wall:8.1f} {rss:13.0f} "
                  f"{'':>9}  {note}")
        if args.keep:
            kept = ROOT / "big.log"
            log.rename(kept)
            print(f"kept {kept}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
