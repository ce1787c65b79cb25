#!/usr/bin/env python3
"""Top-1 / top-3 accuracy of the root-cause diagnosis, per corpus and per cause.

    .venv/bin/python benchmarks/diagnose_accuracy.py [--misses] [--markdown]

The labelled corpus (tests/fixtures/corpus, or AUTOGLM_CORPUS_DIRS) is scored per split: "tune"
(the rules and the calibration were fitted while reading it) and "holdout" (never read: only
these aggregate numbers are printed for it, with a per-cause confusion table and the calibration
by decile of stated confidence). `--misses` lists misses of the tune split and the fixtures only.

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
from tests.fixtures.corpus.corpus import CorpusCase, corpus_cases
from tests.fixtures.logs.corpus import Case, dev_cases, fixture_cases

NO_CAUSE = "(none)"


def predictions(cases: list[CorpusCase]) -> list[tuple[str, list[str], float]]:
    """(label, ranked ids, top confidence) per case."""
    out: list[tuple[str, list[str], float]] = []
    for case in cases:
        causes = diagnose_text(case.text, case.context)
        out.append(
            (case.expected[0], [c.id for c in causes], causes[0].confidence if causes else 0.0)
        )
    return out


def confusion_table(preds: list[tuple[str, list[str], float]], markdown: bool) -> list[str]:
    """Per labelled cause: logs, top-1, top-3 and what the top-1 said when wrong."""
    by_cause: dict[str, list[tuple[list[str], float]]] = defaultdict(list)
    for label, ids, conf in preds:
        by_cause[label].append((ids, conf))
    rows: list[str] = []
    if markdown:
        rows += [
            "| cause | logs | top-1 | top-3 | top-1 said instead (count) |",
            "|---|---|---|---|---|",
        ]
    else:
        rows.append(f"{'cause':28s} {'logs':>5s} {'top-1':>7s} {'top-3':>7s}  top-1 said instead")
    for label in sorted(by_cause):
        items = by_cause[label]
        n = len(items)
        top1 = sum(1 for ids, _ in items if ids[:1] == [label])
        top3 = sum(1 for ids, _ in items if label in ids[:3])
        wrong: dict[str, int] = defaultdict(int)
        for ids, _ in items:
            if ids[:1] != [label]:
                wrong[ids[0] if ids else NO_CAUSE] += 1
        instead = ", ".join(
            f"{k} ({v})" for k, v in sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        if markdown:
            rows.append(f"| `{label}` | {n} | {top1 / n:.0%} | {top3 / n:.0%} | {instead or '-'} |")
        else:
            rows.append(f"{label:28s} {n:5d} {top1 / n:7.0%} {top3 / n:7.0%}  {instead}")
    return rows


def calibration_rows(
    preds: list[tuple[str, list[str], float]],
) -> list[tuple[str, int, float, float]]:
    """(decile, logs, mean stated confidence of the top cause, hit rate) for logs with a cause."""
    bins: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for label, ids, conf in preds:
        if ids:
            bins[min(9, int(conf * 10))].append((conf, ids[0] == label))
    rows: list[tuple[str, int, float, float]] = []
    for d in sorted(bins):
        items = bins[d]
        rows.append(
            (
                f"{d / 10:.1f}-{(d + 1) / 10:.1f}",
                len(items),
                sum(c for c, _ in items) / len(items),
                sum(1 for _, ok in items if ok) / len(items),
            )
        )
    return rows


def corpus_report(markdown: bool, misses: bool) -> None:
    for split in ("tune", "holdout"):
        cases = corpus_cases(split)
        if not cases:
            print(
                f"corpus split {split}: no logs found (merge the corpus or set AUTOGLM_CORPUS_DIRS)"
            )
            continue
        preds = predictions(cases)
        n = len(preds)
        top1 = sum(1 for label, ids, _ in preds if ids[:1] == [label])
        top3 = sum(1 for label, ids, _ in preds if label in ids[:3])
        print(f"\ncorpus split {split}: {n} logs, top-1 {top1 / n:.1%}, top-3 {top3 / n:.1%}")
        for row in confusion_table(preds, markdown):
            print(row)
        print(f"\ncalibration ({split}): decile of stated confidence, logs, stated, hit rate")
        for decile, count, stated, hit in calibration_rows(preds):
            print(f"  {decile}  {count:4d}  {stated:5.0%}  {hit:5.0%}")
        if misses and split == "tune":
            for case, (label, ids, _) in zip(cases, preds, strict=True):
                if ids[:1] != [label]:
                    print(f"  miss {case.name}: expected {label}, got {ids[:3]}")


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
    parser.add_argument(
        "--misses", action="store_true", help="list the logs whose top cause is wrong"
    )
    parser.add_argument("--markdown", action="store_true", help="the confusion tables as markdown")
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
    corpus_report(args.markdown, args.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
