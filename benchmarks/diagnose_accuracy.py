#!/usr/bin/env python3
"""Top-1 / top-3 accuracy of the root-cause diagnosis, per corpus and per cause.

    .venv/bin/python benchmarks/diagnose_accuracy.py [--misses]

Corpora: the dev set of real error logs from public issue threads (tests/fixtures/tracebacks-dev),
the logs triggered for real by tests/fixtures/logs/generate.py, the GPU failures recorded on an
H100 by gpu/check_diagnose.py (marked `# recorded on`), and the logs synthesized from library
sources where neither was possible (marked `# synthesized from`). A log whose folder is `_none`
counts as right only when nothing is diagnosed. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.diagnose import diagnose_text
from tests.fixtures.logs.corpus import Case, dev_cases, fixture_cases


def score(cases: list[Case]) -> tuple[int, int, int, list[str]]:
    top1 = top3 = 0
    misses: list[str] = []
    for case in cases:
        ids = [c.id for c in diagnose_text(case.text, case.context)]
        if not case.expected:
            ok1 = ok3 = ids == []
        else:
            ok1 = ids[:1] == [case.expected[0]]
            ok3 = case.expected[0] in ids[:3]
        top1 += ok1
        top3 += ok3
        if not ok1:
            misses.append(f"{case.name}: expected {list(case.expected) or '[]'}, got {ids[:3]}")
    return len(cases), top1, top3, misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--misses", action="store_true",
                        help="list the logs whose top cause is wrong")
    args = parser.parse_args()
    fixtures = fixture_cases()
    corpora = {
        "dev set (public issue threads)": dev_cases(),
        "triggered for real (generate.py)": [c for c in fixtures if c.origin == "triggered"],
        "recorded on an H100 (gpu/check_diagnose)": [c for c in fixtures if c.origin == "recorded"],
        "synthesized from library sources": [c for c in fixtures if c.origin == "synthesized"],
    }
    print(f"{'corpus':42s} {'logs':>5s} {'top-1':>8s} {'top-3':>8s}")
    all_misses: list[str] = []
    for name, cases in corpora.items():
        n, top1, top3, misses = score(cases)
        all_misses += misses
        print(f"{name:42s} {n:5d} {top1 / n:8.1%} {top3 / n:8.1%}")
    print()
    per_cause: dict[str, list[Case]] = defaultdict(list)
    for case in [c for cases in corpora.values() for c in cases]:
        per_cause[case.expected[0] if case.expected else "(no cause)"].append(case)
    print(f"{'cause (all corpora)':42s} {'logs':>5s} {'top-1':>8s} {'top-3':>8s}")
    for cause in sorted(per_cause):
        n, top1, top3, _ = score(per_cause[cause])
        print(f"{cause:42s} {n:5d} {top1 / n:8.1%} {top3 / n:8.1%}")
    if args.misses and all_misses:
        print("\nmisses:")
        for miss in all_misses:
            print("  " + miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
