#!/usr/bin/env python3
"""Would other fill weights have ranked new logs better? Forward in time, tune side only.

    .venv/bin/python benchmarks/diagnose_fill_replay.py [--batches N] [--weights 0.12/0.24,...]

The words' posterior (lexical.py) enters a ranking twice: a strong one is offered as a lead of
its own (priors.WORDS_SCALE), and priors.fill completes the ranking to three causes with it
(which causes: priors.FILL_WORDS_SCALE since session 26, WORDS_SCALE before; the values they
are stated with: WORDS_SCALE). benchmarks/diagnose_fill_weights.py compares weightings out of
fold on the tune split, where the rules were written against the very logs. Here each of the
last N corpus batches scored fresh (tests/fixtures/corpus/fresh-scores.jsonl, the code of the
day before any rule for the batch) is diagnosed again by that same code, in a temporary git
worktree: as shipped, then with this checkout's priors.fill (run on that code's co-occurrence
table and constants) under each weighting: as the code met logs it had not seen. Prints per
weighting (the lead's weight, the fill's weight) the batch logs' top-1 and top-3, and against
each commit as shipped the logs won and lost, for the older and the newer half of the batches
apart (a change that helps only one half is noise). Each commit must have priors.WORDS_SCALE;
batches whose commit lacks it, or that this clone lacks, are skipped and said. The held-back
split is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from diagnose_calibrate import fresh_batches  # noqa: E402
from diagnose_fresh import run_at  # noqa: E402

# Run inside the old worktree: its own diagnosis, this checkout's corpus, each weighting.
# One JSON line per (weighting, log): [weighting, id, top-1 hit, top-3 hit].
_REPLAY = r"""
import importlib.util, json, os, sys, types
sys.path.insert(0, os.getcwd())
from console.core.diagnose import diagnose_text, priors
root = sys.argv[1]
sys.path.insert(0, root)
from tests.fixtures.corpus.corpus import corpus_cases
ids = set(json.loads(sys.argv[2]))
weightings = json.loads(sys.argv[3])
cases = [c for c in corpus_cases("tune") if c.name in ids]
# This checkout's priors.fill, run on the old module's table and constants.
spec = importlib.util.spec_from_file_location(
    "current_priors", os.path.join(root, "console", "core", "diagnose", "priors.py"))
current = importlib.util.module_from_spec(spec)
sys.modules["current_priors"] = current  # its dataclasses look their module up
spec.loader.exec_module(current)
current_fill = types.FunctionType(current.fill.__code__, vars(priors), "fill",
                                  current.fill.__defaults__)
shipped_fill, shipped_words = priors.fill, priors.WORDS_SCALE
for name, weights in [["shipped", None], *weightings]:
    if weights is None:
        priors.fill, priors.WORDS_SCALE = shipped_fill, shipped_words
    else:
        priors.fill = current_fill
        priors.WORDS_SCALE, priors.FILL_WORDS_SCALE = weights
    for case in cases:
        ranked = [c.id for c in diagnose_text(case.text, case.context)[:3]]
        label = case.expected[0]
        print(json.dumps([name, case.name, ranked[:1] == [label], label in ranked]))
"""


def batches(last: int) -> list[tuple[str, list[str]]]:
    """(commit, tune log ids) of the last `last` fresh batches, oldest first."""
    return [(code, [str(row["id"]) for row in rows])
            for code, rows in fresh_batches()][-last:]


def replay(commit: str, ids: list[str],
           weightings: list[tuple[str, tuple[float, float]]]) -> list[tuple[str, str, bool, bool]]:
    out = run_at(commit, _REPLAY, str(ROOT), json.dumps(ids),
                 json.dumps([[n, w] for n, w in weightings]))
    if out is None:
        print(f"  {commit}: not in this clone, skipped")
        return []
    if out.returncode:
        print(f"  {commit}: its code does not take these weights, skipped "
              f"({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'no output'})")
        return []
    return [tuple(json.loads(line)) for line in out.stdout.splitlines()]  # type: ignore[misc]


Results = dict[str, dict[str, tuple[bool, bool]]]  # variant -> log id -> (top-1, top-3 hit)


def collect(chosen: list[tuple[str, list[str]]],
            rows_of: Callable[[str, list[str]], Iterable[Sequence[Any]]],
            ) -> tuple[Results, set[str]]:
    """The replayed hits of each variant (rows_of(commit, ids): [variant, id, top-1, top-3,
    ...] per log), and the logs of the older half of the batches."""
    results: Results = defaultdict(dict)
    older: set[str] = set()
    for i, (commit, ids) in enumerate(chosen):
        for name, log_id, top1, top3, *_ in rows_of(commit, ids):
            results[name][log_id] = (top1, top3)
            if i < len(chosen) // 2:
                older.add(log_id)
    return results, older


def print_against_shipped(chosen: list[tuple[str, list[str]]], results: Results, older: set[str],
                          heading: str) -> bool:
    """One row per variant (its logs, top-1, top-3), with the logs won and lost against
    results["shipped"] in the older and the newer batches apart; False when nothing was
    replayed."""
    shipped = results.get("shipped", {})
    if not shipped:
        print("nothing replayed")
        return False
    print(f"{len(chosen)} batches, {len(shipped)} tune logs (older half: {len(older)})")
    print(f"{heading:12s} {'logs':>5s} {'top-1':>6s} {'top-3':>6s}   "
          f"{'older: top-1 +/-':>18s} {'top-3 +/-':>10s}   {'newer: top-1 +/-':>18s} "
          f"{'top-3 +/-':>10s}")
    for name, res in results.items():
        cells = []
        for part in (older & set(res), set(res) - older):
            won = [sum(res[i][k] and not shipped[i][k] for i in part) for k in (0, 1)]
            lost = [sum(shipped[i][k] and not res[i][k] for i in part) for k in (0, 1)]
            cells.append(f"{'+' + str(won[0]) + ' -' + str(lost[0]):>18s} "
                         f"{'+' + str(won[1]) + ' -' + str(lost[1]):>10s}")
        top1 = sum(v[0] for v in res.values())
        top3 = sum(v[1] for v in res.values())
        print(f"{name:12s} {len(res):5d} {top1:6d} {top3:6d}   {cells[0]}   {cells[1]}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=28)
    parser.add_argument("--weights", default="0.12/0.12,0.24/0.24,0.12/0.18,0.12/0.24,0.12/0.36",
                        help="comma-separated LEAD/FILL pairs of words weights to try")
    args = parser.parse_args()
    weightings: list[tuple[str, tuple[float, float]]] = []
    for pair in args.weights.split(","):
        lead, _, filling = pair.partition("/")
        weightings.append((pair, (float(lead), float(filling or lead))))
    chosen = batches(args.batches)
    results, older = collect(chosen, lambda commit, ids: replay(commit, ids, weightings))
    return 0 if print_against_shipped(chosen, results, older, "lead/fill") else 1


if __name__ == "__main__":
    sys.exit(main())
