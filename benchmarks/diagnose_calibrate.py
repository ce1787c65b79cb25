#!/usr/bin/env python3
"""Fit the confidence calibration of the diagnosis on the corpus's "tune" split only.

    .venv/bin/python benchmarks/diagnose_calibrate.py [--write]

For every tune log the raw score of the top cause (calibration switched off) and whether that
cause is the label; isotonic regression (pool adjacent violators) of the hit on the raw score
gives a monotone map, each knot shrunk toward the raw score by PRIOR pseudo-logs, kept within
[0.05, 0.97] and written to console/core/diagnose/calibration.json with --write. The held-back
split is never read here.
Prints the fitted knots.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.diagnose import calibration, diagnose_text
from tests.fixtures.corpus.corpus import corpus_cases

OUT = Path(calibration.__file__).with_name("calibration.json")
FLOOR, CEILING = 0.05, 0.97
MIN_BLOCK = 8  # a knot stands for at least this many logs
PRIOR = 20  # pseudo-logs at the raw score itself: few logs move a knot only part of the way


def raw_points() -> list[tuple[float, float]]:
    calibration.knots.cache_clear()
    original = calibration.knots
    calibration.knots = lambda: ((0.0, 0.0), (1.0, 1.0))  # type: ignore[assignment]
    try:
        points: list[tuple[float, float]] = []
        for case in corpus_cases("tune"):
            causes = diagnose_text(case.text, case.context)
            if causes:
                points.append(
                    (causes[0].confidence, 1.0 if causes[0].id == case.expected[0] else 0.0)
                )
        return sorted(points)
    finally:
        calibration.knots = original  # type: ignore[assignment]


def isotonic(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Pool adjacent violators; blocks of fewer than MIN_BLOCK logs are pooled with a neighbour."""
    blocks: list[list[float]] = []  # [sum_x, sum_y, n]
    for x, y in points:
        blocks.append([x, y, 1.0])
        while len(blocks) > 1 and (
            blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]
            or blocks[-2][2] < MIN_BLOCK
        ):
            b = blocks.pop()
            blocks[-1] = [blocks[-1][0] + b[0], blocks[-1][1] + b[1], blocks[-1][2] + b[2]]
    while len(blocks) > 1 and blocks[-1][2] < MIN_BLOCK:
        b = blocks.pop()
        blocks[-1] = [blocks[-1][0] + b[0], blocks[-1][1] + b[1], blocks[-1][2] + b[2]]
    knots: list[tuple[float, float]] = []
    for sx, sy, n in blocks:
        x = round(sx / n, 4)
        y = round(min(CEILING, max(FLOOR, (sy + PRIOR * sx / n) / (n + PRIOR))), 4)
        if knots and x <= knots[-1][0]:
            continue
        knots.append((x, y))
    if len(knots) == 1:
        knots = [(0.0, knots[0][1]), (1.0, knots[0][1])]
    return knots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUT.name}")
    args = parser.parse_args()
    points = raw_points()
    knots = isotonic(points)
    print(f"{len(points)} tune logs with a top cause; knots (raw -> calibrated):")
    for x, y in knots:
        print(f"  {x:5.2f} -> {y:4.2f}")
    if args.write:
        OUT.write_text(
            json.dumps(
                {
                    "fitted_on": "tests/fixtures/corpus split=tune",
                    "logs": len(points),
                    "knots": knots,
                },
                indent=1,
            )
            + "\n"
        )
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
