#!/usr/bin/env python3
"""How long diagnosing a 5,000-line log takes (goal: at most 50 ms).

    .venv/bin/python benchmarks/diagnose_speed.py [--runs 30] [--lines 5000]

The log is built from the fixture corpus (every real and synthesized failure log, so several
tracebacks, chains and multi-rank blocks) mixed into noise that looks like a long session:
timestamped INFO lines, carriage-return progress bars, ANSI-coloured access logs, rank-tagged
NCCL chatter and deprecation warnings, seeded so every run measures the same text. Prints the
median and p95 of wall time and of CPU time (the CPU time is what this code costs even when
other processes share the machine), for the whole diagnosis, the parser alone, and the
streaming path the log pane uses (line by line, then flush), and the log pane's level
classifier (console.core.diagnose.levels: the parser's role plus the line's words, against the
words alone); and, in fresh interpreters, the time to a process's first diagnosis (the import,
the needle index and the rules read once: what `autoglm-console diagnose FILE` pays each time).
Every run starts with nothing remembered from the one before: no line shapes (the parser's), no
words read (the clues').

    .venv/bin/python benchmarks/diagnose_speed.py --against DIR [--pairs 8] [--runs 40]

compares this checkout's `diagnose_text` with another checkout's (DIR: a worktree of an older
commit) on the same log: pairs of fresh processes, one of each, their order swapped every pair,
each printing its CPU median over --runs cold runs. A shared machine's speed drifts by more than
a code change costs; the ratio within a pair, taken one right after the other, drifts less.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.diagnose import StreamingDiagnoser, diagnose_text, evidence
from console.core.diagnose.levels import line_level, text_level
from console.core.diagnose.parser import LogParser, forget_shapes, parse_lines, split_lines
from tests.fixtures.logs.corpus import fixture_cases

BUDGET_MS = 50.0


def build_log(lines: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    noise: list[str] = []
    for i in range(lines):
        kind = rng.random()
        if kind < 0.30:
            noise.append(f"2025-08-14 10:{i // 60 % 60:02d}:{i % 60:02d},{rng.randrange(1000):03d} "
                         "INFO "
                         f"[trainer.py:{rng.randrange(900)}] step {i} loss {rng.random():.4f} lr "
                         "2.0e-05 "
                         f"grad_norm {rng.random() * 3:.3f} tokens/s {rng.randrange(900, 4000)}")
        elif kind < 0.45:
            done = rng.randrange(1, 41)
            noise.append("".join("\rLoading checkpoint shards: "
                                 f"{k * 100 // 40:3d}%|{'█' * (k // 4):10s}| "
                                 f"{k}/40 [00:{k:02d}<00:{40 - k:02d},  1.3{k % 10}it/s]"
                                 for k in range(done - 2, done + 1)))
        elif kind < 0.60:
            noise.append("\x1b[32mINFO\x1b[0m:     "
                         f"10.0.{rng.randrange(255)}.{rng.randrange(255)}:{rng.randrange(60000)} - "
                         f"\"POST /v1/chat/completions HTTP/1.1\" \x1b[32m200 OK\x1b[0m")
        elif kind < 0.70:
            noise.append(f"[rank{rng.randrange(8)}]:[I0814 "
                         f"10:12:{i % 60:02d}.{rng.randrange(10**6):06d} "
                         f"ProcessGroupNCCL.cpp:{rng.randrange(4000)}] [PG 0 Rank "
                         f"{rng.randrange(8)}] "
                         "ProcessGroupNCCL initialization options: size: 8, global rank: "
                         f"{rng.randrange(8)}")
        elif kind < 0.78:
            noise.append("/usr/lib/python3.11/site-packages/transformers/modeling_utils.py:4713: "
                         "FutureWarning: `torch_dtype` is deprecated! Use `dtype` instead!")
        elif kind < 0.86:
            noise.append(f"  {rng.choice(['generated', 'prompt', 'decode'])} "
                         f"tokens={rng.randrange(8192)} "
                         f"kv_blocks={rng.randrange(4096)} latency_ms={rng.random() * 90:.1f}")
        else:
            noise.append(f"{{'loss': {rng.random() * 2:.4f}, 'grad_norm': {rng.random():.4f}, "
                         f"'learning_rate': 1.9e-05, 'epoch': {i / lines:.2f}}}")
    failures = [case.text.rstrip("\n").split("\n") for case in fixture_cases() if case.expected]
    out = list(noise)
    for failure in failures:
        at = rng.randrange(len(out))
        out[at:at] = failure
    return "\n".join(out[:lines]) + "\n"


def measure(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    fn()  # warm-up: regex compilation, imports
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        forget_shapes()  # each run reads the log's line shapes for the first time
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return wall, cpu


def cold(fn: Callable[[str], object], text: str) -> object:
    """Each run as the first: the clue reader's per-line cache is emptied before it."""
    evidence._word_matches.cache_clear()
    return fn(text)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def stream(text: str) -> None:
    diagnoser = StreamingDiagnoser()
    for line in text.split("\n"):
        diagnoser.feed(line)
    diagnoser.flush()


def pane_levels(lines: list[str]) -> None:
    parser = LogParser()
    for line in lines:
        line_level(parser.feed(line)[0], line)


# A fresh interpreter: import the diagnosis and diagnose a two-line log, the first diagnosis of
# the process (it builds the needle index and reads the rules, the catalogue and the words):
# what `autoglm-console diagnose FILE` pays before its answer, and the log pane's first card.
FIRST_RUN = (
    "import sys, time\nsys.path.insert(0, sys.argv[1])\nt0 = time.perf_counter()\n"
    "from console.core.diagnose import diagnose_text\n"
    "diagnose_text('Traceback (most recent call last):\\nRuntimeError: CUDA error: out of "
    "memory\\n')\nprint((time.perf_counter() - t0) * 1000)\n"
)


def first_diagnosis(runs: int) -> list[float]:
    """Milliseconds to the first diagnosis in each of `runs` fresh interpreters."""
    root = str(Path(__file__).resolve().parents[1])
    return [float(subprocess.run([sys.executable, "-c", FIRST_RUN, root], capture_output=True,
                                 text=True, check=True, timeout=300).stdout)
            for _ in range(runs)]


# One side of a pair: import a checkout's diagnosis, diagnose the log once (the needle index and
# the words are built), then the CPU median of cold runs in milliseconds.
AB_RUN = (
    "import statistics, sys, time\nsys.path.insert(0, sys.argv[1])\n"
    "from console.core.diagnose import diagnose_text, evidence\n"
    "text = open(sys.argv[2], encoding='utf-8').read()\ndiagnose_text(text)\ncpu = []\n"
    "for _ in range(int(sys.argv[3])):\n"
    "    evidence._word_matches.cache_clear()\n"
    "    t0 = time.process_time()\n    diagnose_text(text)\n"
    "    cpu.append(time.process_time() - t0)\n"
    "print(statistics.median(cpu) * 1000)\n"
)


def against(other: Path, text: str, pairs: int, runs: int) -> None:
    """Interleaved pairs of fresh processes, this checkout and `other`, on the same log."""
    here = Path(__file__).resolve().parents[1]
    with tempfile.NamedTemporaryFile("w", suffix=".log", encoding="utf-8") as log:
        log.write(text)
        log.flush()

        def one(root: Path) -> float:
            return float(subprocess.run([sys.executable, "-c", AB_RUN, str(root), log.name,
                                         str(runs)], capture_output=True, text=True, check=True,
                                        timeout=600).stdout)

        print(f"{'pair':>4s} {'other (ms)':>11s} {'this (ms)':>10s} {'this/other':>11s}")
        rows: list[tuple[float, float]] = []
        for i in range(pairs):
            if i % 2:
                mine = one(here)
                theirs = one(other)
            else:
                theirs = one(other)
                mine = one(here)
            rows.append((theirs, mine))
            print(f"{i + 1:4d} {theirs:11.1f} {mine:10.1f} {mine / theirs:11.2f}")
    print(f"{'median':>4s} {statistics.median(t for t, _ in rows):11.1f} "
          f"{statistics.median(m for _, m in rows):10.1f} "
          f"{statistics.median(m / t for t, m in rows):11.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    text = build_log(args.lines)
    if args.against is not None:
        against(args.against, text, args.pairs, args.runs)
        return 0
    raw_lines = split_lines(text)
    causes = diagnose_text(text)
    print(f"log: {len(raw_lines)} lines, {len(text):,} characters; "
          f"{len(causes)} causes found: {', '.join(c.id for c in causes)}")
    print(f"{'what':34s} {'wall median':>12s} {'wall p95':>10s} {'cpu median':>11s} "
          f"{'cpu p95':>9s} {'vs 50 ms':>9s}")
    rows = (
        ("diagnose_text (whole log)", lambda: cold(diagnose_text, text)),
        ("parser only", lambda: parse_lines(raw_lines)),
        ("streaming: feed each line + flush", lambda: stream(text)),
        ("levels: words only (text_level)", lambda: [text_level(ln) for ln in raw_lines]),
        ("levels: role + words (log pane)", lambda: pane_levels(raw_lines)),
    )
    for name, fn in rows:
        wall, cpu = measure(fn, args.runs)
        median = statistics.median(wall)
        print(f"{name:34s} {median:9.1f} ms {p95(wall):7.1f} ms {statistics.median(cpu):8.1f} ms "
              f"{p95(cpu):6.1f} ms {median / BUDGET_MS:8.2f}x")
    first = first_diagnosis(max(3, args.runs // 6))
    print(f"{'first diagnosis, fresh process':34s} {statistics.median(first):9.1f} ms "
          f"{p95(first):7.1f} ms   (import + needle index + rules; wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
