#!/usr/bin/env python3
"""Would other values of the diagnosis's constants have ranked new logs better? Forward in time.

    .venv/bin/python benchmarks/diagnose_knob_replay.py [--batches N] [VARIANT ...]

A VARIANT is NAME=MODULE.CONSTANT:VALUE[,MODULE.CONSTANT:VALUE...] with MODULE one of engine,
priors (console.core.diagnose), e.g. `blend20=engine.WORDS_BLEND:0.2`. Each of the last N
corpus batches scored fresh (tests/fixtures/corpus/fresh-scores.jsonl: the code of the day
before any rule for the batch) is diagnosed again by that same code, in a temporary git
worktree: as shipped, then with each variant's constants set on its modules; a variant naming a
constant that code lacks is skipped for that batch. Prints per variant its logs, top-1 and
top-3, and against the code as shipped the logs won and lost in the older and the newer half of
the batches apart (a change that helps one half only is noise); and, as shipped, the logs whose
top cause is a lead (no message named it) apart from the others. With no VARIANT, the set session
27 tried. The held-back split is never read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from diagnose_fill_replay import batches, collect, print_against_shipped  # noqa: E402
from diagnose_fresh import run_at  # noqa: E402

# Session 27's variants: the words' blend into named causes, their lead threshold, the clue
# scales and thresholds.
DEFAULT = ("blend20=engine.WORDS_BLEND:0.2", "blend05=engine.WORDS_BLEND:0.05",
           "lead40=priors.MIN_WORDS_LEAD:0.4", "lead60=priors.MIN_WORDS_LEAD:0.6",
           "evs55=engine.EVIDENCE_SCALE:0.55", "evs35=engine.EVIDENCE_SCALE:0.35",
           "minev15=engine.MIN_EVIDENCE_ALONE:0.15,engine.MIN_EVIDENCE:0.15",
           "boost12=engine.EVIDENCE_BOOST:0.12")

# Run inside the old worktree: its own diagnosis, this checkout's corpus, each variant.
# One JSON line per (variant, log): [variant, id, top-1 hit, top-3 hit, top cause is a lead].
_REPLAY = r"""
import json, os, sys
sys.path.insert(0, os.getcwd())
from console.core.diagnose import diagnose_text, engine, priors
sys.path.insert(0, sys.argv[1])
from tests.fixtures.corpus.corpus import corpus_cases
ids = set(json.loads(sys.argv[2]))
variants = json.loads(sys.argv[3])
cases = [c for c in corpus_cases("tune") if c.name in ids]
modules = {"engine": engine, "priors": priors}
shipped = {(m, k): getattr(modules[m], k) for _, changes in variants for m, k, _ in changes
           if hasattr(modules[m], k)}
for name, changes in [["shipped", []], *variants]:
    for (m, k), value in shipped.items():
        setattr(modules[m], k, value)
    if any(not hasattr(modules[m], k) for m, k, _ in changes):
        continue
    for m, k, value in changes:
        setattr(modules[m], k, value)
    for case in cases:
        causes = diagnose_text(case.text, case.context)[:3]
        ranked = [c.id for c in causes]
        label = case.expected[0]
        lead = bool(causes) and causes[0].lead
        print(json.dumps([name, case.name, ranked[:1] == [label], label in ranked, lead]))
"""


def parse_variant(text: str) -> tuple[str, list[tuple[str, str, float]]]:
    name, _, spec = text.partition("=")
    changes = []
    for part in spec.split(","):
        target, _, value = part.partition(":")
        module, _, constant = target.partition(".")
        if module not in ("engine", "priors") or not constant or not value:
            raise SystemExit(f"variant {text!r}: write NAME=MODULE.CONSTANT:VALUE, MODULE one "
                             "of engine, priors")
        changes.append((module, constant, float(value)))
    return name, changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("variants", nargs="*", help="NAME=MODULE.CONSTANT:VALUE[,...]")
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variants or DEFAULT]
    chosen = batches(args.batches)
    leads: set[str] = set()  # logs whose top cause, as shipped, is a lead (nothing named it)

    def rows_of(commit: str, ids: list[str]) -> list[list[Any]]:
        done = run_at(commit, _REPLAY, str(ROOT), json.dumps(ids), json.dumps(variants))
        if done is None or done.returncode:
            print(f"  {commit}: skipped ({'not in this clone' if done is None else 'failed'})")
            return []
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        leads.update(row[1] for row in rows if row[0] == "shipped" and row[4])
        return rows

    results, older = collect(chosen, rows_of)
    if not print_against_shipped(chosen, results, older, "variant"):
        return 1
    shipped = results["shipped"]
    for what, part in (("top cause a lead", leads), ("the others", set(shipped) - leads)):
        print(f"  as shipped, {what}: {len(part)} logs, top-1 "
              f"{sum(shipped[i][0] for i in part)}, top-3 {sum(shipped[i][1] for i in part)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
