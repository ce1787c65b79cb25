#!/usr/bin/env python3
"""Check the calibration method forward in time, on the tune side only.

    .venv/bin/python benchmarks/diagnose_prequential.py [--skip N] [--window N] [--isotonic]
        [--one-map]

The fresh scores (tests/fixtures/corpus/fresh-scores.jsonl) hold, for every corpus batch, the raw
score of the top cause and whether it was right, as the code of the day scored the batch before
any rule was written for it. For each batch in the order they were scored (after the first N,
default 3), the map is fitted (benchmarks/diagnose_calibrate.logistic, the method that writes
calibration.json; --isotonic: the isotonic regression it used until session 28) on the batches
scored before it only (the latest RECENT_BATCHES of them, as calibration.json is; --window 0:
all of them), one map for the tops a message named and one for the tops that were leads (as
calibration.json since session 31; --one-map: one for both, as before), and applied to this
batch's raw scores: as the shipped maps meet a new log. Prints the Brier score and the
log-loss, and per decile of the stated confidence the logs, the mean stated confidence and the
hit rate. The held-back split is never read here.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import diagnose_calibrate  # noqa: E402

from console.core.diagnose.calibration import interpolate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip", type=int, default=3,
                        help="the first batches only fit, never scored (default 3)")
    parser.add_argument("--window", type=int, default=diagnose_calibrate.RECENT_BATCHES,
                        help="fit on this many batches before each one, 0 for all (default "
                        f"{diagnose_calibrate.RECENT_BATCHES}, as calibration.json is fitted)")
    parser.add_argument("--isotonic", action="store_true",
                        help="fit by isotonic regression instead (the method until session 28)")
    parser.add_argument("--one-map", action="store_true",
                        help="one map for named and lead tops alike (the method until session "
                        "31) instead of one for each")
    args = parser.parse_args()
    fit = diagnose_calibrate.isotonic if args.isotonic else diagnose_calibrate.logistic
    # (raw, hit, lead) of each batch's tops; one kind of top only when there is one map
    batches = {code: [(raw, hit, lead) for lead in (False, True)
                      for raw, hit in diagnose_calibrate.batch_points(rows, lead)]
               for code, rows in diagnose_calibrate.fresh_batches()}
    order = [code for code, points in batches.items() if points]
    deciles: dict[int, list[float]] = {}  # decile -> [logs, sum stated, hits]
    loss = [0.0, 0.0]  # Brier score, log-loss (sums)
    for i, code in enumerate(order):
        if i < args.skip:
            continue
        before = order[max(0, i - args.window):i] if args.window else order[:i]
        earlier = [p for c in before for p in batches[c]]
        maps = {lead: tuple(fit(sorted((raw, hit) for raw, hit, kind in earlier
                                       if args.one_map or kind == lead)))
                for lead in (False, True)}
        for raw, hit, lead in batches[code]:
            stated = interpolate(maps[lead], raw)
            d = deciles.setdefault(min(int(stated * 10), 9), [0.0, 0.0, 0.0])
            d[0] += 1
            d[1] += stated
            d[2] += hit
            loss[0] += (stated - hit) ** 2
            loss[1] -= math.log(stated if hit else 1.0 - stated)
    scored = len(order) - min(args.skip, len(order))
    print(f"{scored} batches scored by maps fitted on the "
          f"{f'{args.window} batches' if args.window else 'batches'} before them")
    logs = sum(int(d[0]) for d in deciles.values())
    print(f"{logs} logs; Brier score {loss[0] / logs:.4f}, log-loss {loss[1] / logs:.4f}")
    print("| decile | logs | stated | hit rate |")
    print("|---|---|---|---|")
    for k in sorted(deciles):
        n, stated_sum, hits = deciles[k]
        print(f"| {k / 10:.1f}-{(k + 1) / 10:.1f} | {int(n)} | {100 * stated_sum / n:.1f}% "
              f"| {100 * hits / n:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
