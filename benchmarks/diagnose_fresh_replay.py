#!/usr/bin/env python3
"""Are the fresh misses a ranking problem or a coverage problem? Tune side only.

    .venv/bin/python benchmarks/diagnose_fresh_replay.py [--pairs 12]

Every row of tests/fixtures/corpus/fresh-scores.jsonl is a tune log as the code of its commit
scored it before any rule was written for it; the file keeps only whether the label came first
or in the top 3. Here each batch is diagnosed again by the code of its commit (a temporary git
worktree, calibration off, as benchmarks/diagnose_fresh.py scores it) to get the whole ranking.
Prints how many replays agree with the recorded top-1, where the label stood in each top-1 miss
(second, third, not in the top 3), and, per pair of causes (A first, B second), what ranking B
first would do: the misses labelled B it would mend against the hits labelled A it would break.
A pair where a swap gains points at a ranking bias; none means the misses are messages no rule
knew. The held-back split is never read (the fresh scores hold tune logs only).
"""

from __future__ import annotations

import argparse
from collections import Counter

# Run as a script, this folder is on sys.path: its neighbours import as modules.
from diagnose_calibrate import fresh_batches
from diagnose_fresh import scored_at

Replay = dict[str, tuple[str, list[str]]]  # id -> (label, the top 3 as that code ranked them)


def replay(code: str, ids: list[str]) -> Replay | None:
    """The batch's logs diagnosed by `code`; None when this clone lacks the commit."""
    found = scored_at(code, "=" + ",".join(ids))
    if found is None:
        return None
    return {str(row["id"]): (str(row["label"]), [str(c) for c in row["ranked"]])
            for row in found[1]}


Pair = tuple[str, str]  # (the cause ranked first, the cause ranked second)


def tally(ranked: Replay) -> tuple[Counter[str], Counter[Pair], Counter[Pair]]:
    """Where the label stood in each top-1 miss; per pair (A first, B second), the misses
    labelled B that ranking B first would mend and the hits labelled A it would break."""
    place: Counter[str] = Counter()
    mended: Counter[Pair] = Counter()
    broken: Counter[Pair] = Counter()
    for label, top in ranked.values():
        if top[:1] == [label]:
            if len(top) > 1:
                broken[(label, top[1])] += 1
            continue
        place["second" if top[1:2] == [label] else "third" if top[2:3] == [label]
              else "not in the top 3"] += 1
        if top[1:2] == [label]:
            mended[(top[0], label)] += 1
    return place, mended, broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=12, help="pairs of causes to list")
    args = parser.parse_args()
    recorded: dict[str, bool] = {}
    ranked: Replay = {}
    missing: list[str] = []
    for code, rows in fresh_batches():
        ids = [str(r["id"]) for r in rows]
        again = replay(code, ids)
        if again is None:
            missing.append(code)
            continue
        ranked.update(again)
        recorded.update({str(r["id"]): bool(r["top1"]) for r in rows})
    if missing:
        print(f"not in this clone, skipped: {', '.join(missing)}")
    scored = [i for i in recorded if i in ranked]
    agree = sum((ranked[i][1][:1] == [ranked[i][0]]) == recorded[i] for i in scored)
    print(f"{len(scored)} fresh tune logs replayed; {agree} ({100 * agree / len(scored):.1f}%) "
          "agree with the recorded top-1")
    place, mended, broken = tally(ranked)
    misses = sum(place.values())
    print(f"{misses} top-1 misses: " + ", ".join(f"{place[k]} {k}" for k in
                                                  ("second", "third", "not in the top 3")))
    print()
    print("| first | second | a swap mends | a swap breaks |")
    print("|---|---|---|---|")
    for pair, n in mended.most_common(args.pairs):
        print(f"| {pair[0]} | {pair[1]} | {n} | {broken[pair]} |")
    gains = sorted(((n - broken[pair], n, pair) for pair, n in mended.items()
                    if n > broken[pair]), reverse=True)
    print()
    print(f"pairs where ranking the second first would gain: {len(gains)}, "
          f"{sum(g for g, _, _ in gains)} logs in all"
          + (": " + ", ".join(f"{a} -> {b} ({n} mended, {n - g} broken)"
                              for g, n, (a, b) in gains) if gains else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
