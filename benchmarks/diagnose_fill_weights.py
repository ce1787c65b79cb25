#!/usr/bin/env python3
"""Would other weights complete the top-3 better? Out of fold, tune side only.

    .venv/bin/python benchmarks/diagnose_fill_weights.py

priors.fill completes a ranking to three causes from weak clues (WEAK_SCALE), the words'
posterior (FILL_WORDS_SCALE) and co-occurrence (NEIGHBOUR_SCALE: which causes turn out to be the
label when a cause is named). Here every tune log is diagnosed as a new log would be: the word
counts and the co-occurrence table are fitted without the log's fold (five folds by thread, as
benchmarks/diagnose_calibrate.py does), for each of a few weightings. Prints top-1 and top-3 of
the tune split, and how many of the top-1 misses keep their label in the top-3. The held-back
split is never read.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import diagnose_calibrate as calibrate  # noqa: E402

from console.core.diagnose import priors  # noqa: E402
from tests.fixtures.corpus.corpus import CorpusCase, corpus_cases  # noqa: E402

# (weak clues, co-occurrence, the words choosing the runners-up: FILL_WORDS_SCALE); the first is
# what ships.
WEIGHTS = (
    (priors.WEAK_SCALE, priors.NEIGHBOUR_SCALE, priors.FILL_WORDS_SCALE),
    (0.45, 0.3, 0.24), (0.45, 0.6, 0.24), (0.45, 1.0, 0.24),
    (0.3, 0.12, 0.24), (0.3, 0.3, 0.24), (0.45, 0.12, 0.12), (0.45, 0.12, 0.06),
)


def fold_priors(cases: list[CorpusCase], named: dict[str, list[str]], fold: int) -> priors.Priors:
    """priors.json's table (benchmarks/diagnose_calibrate.fit_priors) without `fold`'s logs."""
    counts, base = calibrate.cooccurrence((case.expected[0], named[case.name]) for case in cases
                                          if calibrate._fold(case) != fold)
    total = sum(base.values())
    return priors.Priors(priors.normalise(counts), {k: v / total for k, v in base.items()})


def main() -> int:
    calibrate.fit_lexical()  # word counts of the other folds, per tune log
    cases = corpus_cases("tune")
    shipped = (priors.table, priors.WEAK_SCALE, priors.NEIGHBOUR_SCALE, priors.FILL_WORDS_SCALE)
    try:
        priors.table = lambda: priors.Priors({}, {})  # type: ignore[assignment]
        named = {case.name: calibrate.diagnose_case(case)[:3] for case in cases}
        tables = {k: fold_priors(cases, named, k) for k in range(calibrate.FOLDS)}
        print(f"{'weak':>5} {'near':>5} {'words':>5}  {'top-1':>6} {'top-3':>6}  "
              f"top-1 misses, label in top-3   (of {len(cases)} tune logs, out of fold)")
        for weak, near, words in WEIGHTS:
            priors.WEAK_SCALE, priors.NEIGHBOUR_SCALE, priors.FILL_WORDS_SCALE = weak, near, words
            top1 = top3 = misses = kept = 0
            for case in cases:
                table = tables[calibrate._fold(case)]
                priors.table = lambda table=table: table  # type: ignore[assignment, misc]
                got = calibrate.diagnose_case(case)[:3]
                label = case.expected[0]
                top1 += bool(got) and got[0] == label
                top3 += label in got
                if not got or got[0] != label:
                    misses += 1
                    kept += label in got
            print(f"{weak:5.2f} {near:5.2f} {words:5.2f}  {top1:6d} {top3:6d}  {misses} misses, "
                  f"{kept} in top-3")
    finally:
        priors.table, priors.WEAK_SCALE, priors.NEIGHBOUR_SCALE, priors.FILL_WORDS_SCALE = shipped
        priors.table.cache_clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
