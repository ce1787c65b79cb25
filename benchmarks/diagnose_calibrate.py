#!/usr/bin/env python3
"""Fit the top-3 priors and the confidence calibration of the diagnosis on the "tune" split only.

    .venv/bin/python benchmarks/diagnose_calibrate.py [--write]

First the word statistics (console/core/diagnose/lexical.json): per cause, how many logs of the
tune split and of the project's fixture logs contain each word; the sharpness of their
naive-Bayes posterior is the one with the least log-loss over five folds of the tune split
(each fold scored by counts without it). Every later step diagnoses a tune log with the counts
of the other folds (out of fold), so the calibration sees the words as a new log would.
Then the priors (console/core/diagnose/priors.json): for every tune log, the causes the rules
and clues name (the priors switched off); each named cause that is not the label counts one
co-occurrence (named -> label; half when it was not the top one), smoothed by the families of
priors.FAMILIES, and the labels give the base rate. Then the raw score of the top cause and
whether it was the label, for the tune logs of the latest RECENT_BATCHES batches as the code of
their day scored them before any rule for them (tests/fixtures/corpus/fresh-scores.jsonl;
without that file, every tune log with today's code and these priors); a logistic curve of the
hit on the logit of the raw score (Platt scaling, since session 28), written as knots within
[0.05, 0.97] to console/core/diagnose/calibration.json with --write: one for the tops that a
message named (`knots`) and one for the tops that were leads (`lead_knots`, since session 31:
their raw scores are on another scale); then, by isotonic regression
(pool adjacent violators; blocks of at least MIN_BLOCK logs, PRIOR pseudo-logs at the raw score),
the map for the runners-up (ranks 2 and 3: their stated share against whether they
are the label), `runner_knots`, floor 0.01. The held-back split is never read here.
Prints the fitted knots.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.diagnose import calibration, diagnose_text, lexical, priors
from tests.fixtures.corpus.corpus import CorpusCase, corpus_cases
from tests.fixtures.logs.corpus import dev_cases, fixture_cases

OUT = Path(calibration.__file__).with_name("calibration.json")
PRIORS_OUT = Path(priors.__file__).with_name("priors.json")
LEXICAL_OUT = Path(lexical.__file__).with_name("lexical.json")
FRESH = Path(__file__).resolve().parents[1] / "tests/fixtures/corpus/fresh-scores.jsonl"
FOLDS = 5
# The map is fitted on the latest batches' fresh scores only (session 28): the corpus is not
# stationary (each round's helpers find harder threads, and the day's code scores raw scores
# its own way), and fitted on every batch since round 1 the map stated 4-5 points more than
# later batches hit in the 0.6-0.9 band. benchmarks/diagnose_prequential.py, forward in time on
# the tune side, with isotonic regression: mean gap over deciles 3.7 points with every batch,
# 2.7 with the last 20 (with the logistic curve below: 1.5).
RECENT_BATCHES = 20
SHARPNESS = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
_OUT_OF_FOLD: dict[str, lexical.Model] = {}  # tune log id -> counts without its fold


def _fold(case: CorpusCase) -> int:
    """A fold per thread (all logs of one thread together), independent of the split rule."""
    return int(hashlib.sha256(case.source.encode()).hexdigest(), 16) // 5 % FOLDS


def fit_lexical() -> lexical.Model:
    """Word counts on the tune split and the fixture logs, the sharpness by fold log-loss;
    fills _OUT_OF_FOLD."""
    tune = [(case, lexical.text_features(case.text)) for case in corpus_cases("tune")]
    fixtures = [(lexical.text_features(c.text), c.expected[0])
                for c in (*dev_cases(), *fixture_cases()) if c.expected]
    folds = []
    for k in range(FOLDS):
        rest = [(words, case.expected[0]) for case, words in tune if _fold(case) != k]
        folds.append(lexical.fit([*rest, *fixtures]))
    losses: dict[float, float] = {}
    for sharpness in SHARPNESS:
        loss, n = 0.0, 0
        for case, words in tune:
            m = folds[_fold(case)]
            p = lexical.posterior(words, lexical.Model(m.docs, m.counts, m.totals, sharpness))
            if p:
                loss -= math.log(max(p.get(case.expected[0], 0.0), 1e-6))
                n += 1
        losses[sharpness] = loss / max(n, 1)
    best = min(losses, key=lambda t: (losses[t], t))
    print("word statistics: fold log-loss by sharpness: "
          + ", ".join(f"{t:g}: {v:.3f}" for t, v in losses.items()) + f"; chosen {best:g}")
    _OUT_OF_FOLD.clear()
    for case, _words in tune:
        m = folds[_fold(case)]
        _OUT_OF_FOLD[case.name] = lexical.Model(m.docs, m.counts, m.totals, best)
    full = lexical.fit([*((w, c.expected[0]) for c, w in tune), *fixtures], best)
    print(f"  {full.vocabulary} words and pairs kept, from {sum(full.docs.values())} logs")
    return full


@contextlib.contextmanager
def out_of_fold(case: CorpusCase) -> Iterator[None]:
    """Diagnose `case` with the word counts of the other folds (as a new log would be)."""
    m = _OUT_OF_FOLD.get(case.name)
    if m is None:
        yield
        return
    original = lexical.model
    lexical.model = lambda: m  # type: ignore[assignment]
    try:
        yield
    finally:
        lexical.model = original


def diagnose_case(case: CorpusCase) -> list[str]:
    with out_of_fold(case):
        return [c.id for c in diagnose_text(case.text, case.context)]
FLOOR, CEILING = 0.05, 0.97
MIN_BLOCK = 15  # a knot stands for at least this many logs
# Pseudo-logs at the raw score itself, shrinking a knot toward it. Session 10 set it to 0 (and
# MIN_BLOCK from 8 to 15): five-fold cross-validation on the fresh scores gave a Brier score of
# 0.0770 against 0.0836 for 20 pseudo-logs, whose knots stated 14-24 points under the hit rate
# between 0.3 and 0.7 (raw scores of leads lie far below their hit rate); the held-back split
# had failed the calibration check in that band (docs/diagnose.md, "Session 10").
PRIOR = 0
RUNNER_FLOOR = 0.01  # a runner-up may say 1%


def fit_priors() -> dict[str, object]:
    """Co-occurrence (named cause -> label) and base rate on the tune split."""
    priors.table.cache_clear()
    original = priors.table
    priors.table = lambda: priors.Priors({}, {})  # type: ignore[assignment]
    cases = corpus_cases("tune")
    try:
        counts, base = cooccurrence((case.expected[0], diagnose_case(case)) for case in cases)
    finally:
        priors.table = original
        priors.table.cache_clear()
    total = sum(base.values())
    return {
        "fitted_on": "tests/fixtures/corpus split=tune",
        "logs": len(cases),
        "neighbours": priors.normalise(counts),
        "base": {k: round(v / total, 4) for k, v in sorted(base.items())},
    }


def cooccurrence(
    labelled: Iterable[tuple[str, Sequence[str]]],
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """From (label, causes named, best first) per log: the co-occurrence counts (the families'
    pseudo-counts, plus 1 for a top cause that is not the label, 0.5 for a runner-up) and the
    count of each label."""
    counts = priors.family_counts()
    base: dict[str, float] = {}
    for label, named in labelled:
        base[label] = base.get(label, 0.0) + 1.0
        for position, cause in enumerate(named[:3]):
            if cause != label:
                row = counts.setdefault(cause, {})
                row[label] = row.get(label, 0.0) + (1.0 if position == 0 else 0.5)
    return counts, base


def raw_points(lead: bool) -> list[tuple[float, float]]:
    """(raw score, hit) of the top cause of every tune log with today's code, the words out of
    fold; only the tops that are leads (`lead`), or only those that are not."""
    calibration.knots.cache_clear()
    calibration.lead_knots.cache_clear()
    original, original_lead = calibration.knots, calibration.lead_knots
    calibration.knots = lambda: ((0.0, 0.0), (1.0, 1.0))  # type: ignore[assignment]
    calibration.lead_knots = calibration.knots  # type: ignore[assignment]
    try:
        points: list[tuple[float, float]] = []
        for case in corpus_cases("tune"):
            with out_of_fold(case):
                causes = diagnose_text(case.text, case.context)
            if causes and causes[0].lead == lead:
                points.append(
                    (causes[0].confidence, 1.0 if causes[0].id == case.expected[0] else 0.0)
                )
        return sorted(points)
    finally:
        calibration.knots, calibration.lead_knots = original, original_lead


def fresh_batches() -> list[tuple[str, list[dict[str, Any]]]]:
    """The fresh scores' rows (benchmarks/diagnose_fresh.py), one batch per commit that scored
    them, in the order they were scored (the file appends each batch, and a batch scored again
    keeps its place)."""
    if not FRESH.exists():
        return []
    batches: dict[str, list[dict[str, Any]]] = {}
    for number, line in enumerate(FRESH.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or "raw" not in row or "top1" not in row:
            raise SystemExit(f"{FRESH}:{number}: a row needs 'raw' and 'top1'; rerun "
                             "benchmarks/diagnose_fresh.py")
        batches.setdefault(str(row.get("code", "")), []).append(row)
    return list(batches.items())


def batch_points(rows: Iterable[dict[str, Any]],
                 lead: bool | None = None) -> list[tuple[float, float]]:
    """(raw score, hit) of the top cause of each fresh row that had one; with `lead`, only the
    rows whose top cause was a lead (True) or was named (False)."""
    rows = [row for row in rows if row["raw"] is not None]
    if lead is not None and any("lead" not in row for row in rows):
        raise SystemExit(f"{FRESH}: rows without 'lead'; run benchmarks/diagnose_fresh.py "
                         "--add-lead")
    return [(float(row["raw"]), 1.0 if row["top1"] else 0.0) for row in rows
            if lead is None or row["lead"] == lead]


def fresh_points(recent: int = RECENT_BATCHES,
                 lead: bool | None = None) -> list[tuple[float, float]]:
    """(raw score, hit) of the top cause of the `recent` latest batches' tune logs (every batch
    when 0) as scored before any rule was written for them: how a log new to the rules fares.
    The batches are counted over all tops; `lead` keeps the leads (True) or the named (False)."""
    batches = [rows for _, rows in fresh_batches() if any(r["raw"] is not None for r in rows)]
    kept = batches[-recent:] if recent else batches
    return sorted(point for rows in kept for point in batch_points(rows, lead))


def top_points(lead: bool) -> tuple[list[tuple[float, float]], str]:
    """The (raw score, hit) points the top cause's map is fitted on (the map of the leads with
    `lead`, of the named causes without), and what they are: the latest batches scored before
    their rules were written when there are any (the tune logs' own scores are optimistic: the
    rules were written against them), else today's scores of the tune logs (words out of fold:
    call fit_lexical() first)."""
    points = fresh_points(lead=lead)
    if not points:
        return raw_points(lead), "tests/fixtures/corpus split=tune"
    # Until session 28 the tune logs today's code leads with a lead (words out of fold) were
    # added here. They are optimistic: the rules and the priors were fitted with those very logs
    # (only the words were out of fold). In the leads' raw band (0.05-0.2) they hit 55-83%,
    # where the fresh logs of the same band hit 48-64%.
    return points, (f"tests/fixtures/corpus/fresh-scores.jsonl (the latest {RECENT_BATCHES} "
                    "batches' tune logs scored before their rules)")


def runner_points() -> list[tuple[float, float]]:
    """(stated confidence, hit) of the runners-up (ranks 2 and 3) with the runner map off."""
    calibration.runner_knots.cache_clear()
    original = calibration.runner_knots
    calibration.runner_knots = lambda: ((0.0, 0.0), (1.0, 1.0))  # type: ignore[assignment]
    try:
        points: list[tuple[float, float]] = []
        for case in corpus_cases("tune"):
            with out_of_fold(case):
                ranked = diagnose_text(case.text, case.context)
            for cause in ranked[1:3]:
                points.append((cause.confidence, 1.0 if cause.id == case.expected[0] else 0.0))
        return sorted(points)
    finally:
        calibration.runner_knots = original


# Raw scores at which the top cause's fitted curve is written as knots (denser where the leads'
# raw scores lie); the console interpolates between them (calibration.interpolate).
_GRID = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14,
         0.16, 0.18, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0)
_EDGE = 1e-3  # raw scores are clipped into [_EDGE, 1 - _EDGE] before their logit


def _logit(raw: float) -> float:
    raw = min(1.0 - _EDGE, max(_EDGE, raw))
    return math.log(raw / (1.0 - raw))


def logistic(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The top cause's map (since session 28): P(hit) = 1 / (1 + exp(-(a + b * logit(raw)))),
    a and b by maximum likelihood (Newton's method), written as knots on _GRID within [FLOOR,
    CEILING]. Two parameters where isotonic regression had a knot per block: forward in time on
    the tune side (benchmarks/diagnose_prequential.py) its stated confidence missed the hit
    rate by 1.5 points on average over the deciles, isotonic regression's by 2.7 (last 20
    batches) or 3.7 (every batch), which also left the 0.1-0.4 deciles 8-15 points under."""
    a = b = 0.0
    for _ in range(100):
        ga = gb = haa = hab = hbb = 0.0
        for raw, hit in points:
            z = _logit(raw)
            p = 1.0 / (1.0 + math.exp(-(a + b * z)))
            w = p * (1.0 - p)
            ga, gb = ga + (p - hit), gb + (p - hit) * z
            haa, hab, hbb = haa + w, hab + w * z, hbb + w * z * z
        det = haa * hbb - hab * hab
        if det <= 0.0:
            break
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) + abs(db) < 1e-10:
            break
    if b <= 0.0:
        raise SystemExit(f"{FRESH}: the hit rate does not rise with the raw score (slope {b:.3f}); "
                         "the map would not be monotone: check the fresh scores")
    return [(x, round(min(CEILING, max(FLOOR, 1.0 / (1.0 + math.exp(-(a + b * _logit(x)))))), 4))
            for x in _GRID]


def isotonic(
    points: list[tuple[float, float]], floor: float = FLOOR
) -> list[tuple[float, float]]:
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
        y = round(min(CEILING, max(floor, (sy + PRIOR * sx / n) / (n + PRIOR))), 4)
        if knots and x <= knots[-1][0]:
            continue
        knots.append((x, y))
    if len(knots) == 1:
        knots = [(0.0, knots[0][1]), (1.0, knots[0][1])]
    if knots[0][0] > 0.0 and knots[0][1] > floor:
        # Below the weakest fitted scores (a lead filled in from priors alone) the confidence
        # falls toward the floor rather than staying at the first knot's value.
        knots.insert(0, (0.0, floor))
    return knots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUT.name}")
    args = parser.parse_args()
    words = fit_lexical()
    if args.write:
        LEXICAL_OUT.write_text(json.dumps(
            lexical.to_json(words, "tests/fixtures/corpus split=tune + fixture logs"),
            separators=(",", ":"), sort_keys=False) + "\n")
        lexical.model.cache_clear()
        print(f"wrote {LEXICAL_OUT}")
    fitted = fit_priors()
    print(f"priors from {fitted['logs']} tune logs; base rate (top 5):")
    base = fitted["base"]
    assert isinstance(base, dict)
    for cause, share in sorted(base.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {cause:28s} {share:5.1%}")
    if args.write:
        PRIORS_OUT.write_text(json.dumps(fitted, indent=1) + "\n")
        priors.table.cache_clear()
        print(f"wrote {PRIORS_OUT}")
    points, fitted_on = top_points(lead=False)
    knots = logistic(points)
    print(f"{len(points)} logs with a named top cause ({fitted_on}); knots (raw -> "
          "calibrated):")
    for x, y in knots:
        print(f"  {x:5.2f} -> {y:4.2f}")
    lead_points, _ = top_points(lead=True)
    lead_knots = logistic(lead_points)
    print(f"{len(lead_points)} logs with a lead on top; knots (raw -> calibrated):")
    for x, y in lead_knots:
        print(f"  {x:5.2f} -> {y:4.2f}")
    if not args.write:
        return 0
    record: dict[str, object] = {
        "fitted_on": fitted_on,
        "logs": len(points),
        "knots": knots,
        "lead_logs": len(lead_points),
        "lead_knots": lead_knots,
    }
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    calibration.knots.cache_clear()
    calibration.lead_knots.cache_clear()
    runners = runner_points()
    runner_knots = isotonic(runners, floor=RUNNER_FLOOR)
    print(f"{len(runners)} runners-up (ranks 2-3); knots (stated share -> calibrated):")
    for x, y in runner_knots:
        print(f"  {x:5.2f} -> {y:4.2f}")
    record["runner_knots"] = runner_knots
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    calibration.runner_knots.cache_clear()
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
