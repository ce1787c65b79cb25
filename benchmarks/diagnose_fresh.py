#!/usr/bin/env python3
"""Record how the diagnosis scored a corpus batch before any rule was written for it.

    .venv/bin/python benchmarks/diagnose_fresh.py COMMIT PREFIXES [--write]
    .venv/bin/python benchmarks/diagnose_fresh.py --add-lead

Each new batch of labelled logs (ids starting with one of PREFIXES: letters, e.g. "jklm", or
comma-separated prefixes, e.g. "z4,z5,z6,z7", or "zp," for the one prefix zp) is merged,
then scored by the code as it was before its rules were written: COMMIT, checked out in a
temporary git worktree. For every log of the batch's "tune" split this records the raw score of
the top cause (calibration off; null when nothing was named), whether that cause is the
label, and whether it was a lead (since session 31; --add-lead scores the older rows again at
their commits to add it). These are the only scores in the project of logs that no rule was
written against, so the top cause's calibration is fitted on them
(benchmarks/diagnose_calibrate.py): a log the console meets is new to its rules too.
The "holdout" split is never read here. --write appends the rows to
tests/fixtures/corpus/fresh-scores.jsonl (rows of an id already there are replaced).
Prints top-1 / top-3 of the batch as it was scored then.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "corpus" / "fresh-scores.jsonl"

# Run inside the old worktree: its own diagnosis, this checkout's corpus (the batch may not be
# in the old tree yet), calibration off. One JSON line per tune log of the batch.
_SCORER = r"""
import json, os, sys
sys.path.insert(0, os.getcwd())
from console.core.diagnose import calibration, diagnose_text
calibration.knots.cache_clear()
calibration.knots = lambda: ((0.0, 0.0), (1.0, 1.0))
if hasattr(calibration, "lead_knots"):  # the leads' own map, since session 31
    calibration.lead_knots = lambda: ((0.0, 0.0), (1.0, 1.0))
sys.path.insert(0, sys.argv[2])
from tests.fixtures.corpus.corpus import corpus_cases
# "jklm": ids starting with any of those letters; "z4,z5" (or "zp," for one prefix): with any
# of those prefixes; "=e002,e003": exactly those ids. An empty prefix would take every log: it
# is never one.
arg = sys.argv[1]
ids = set(arg[1:].split(",")) if arg.startswith("=") else set()
prefixes = tuple(p for p in arg.split(",") if p) if "," in arg else tuple(arg)
assert prefixes, "no prefix given"
for case in corpus_cases("tune"):
    if case.name in ids if ids else case.name.startswith(prefixes):
        ranked = diagnose_text(case.text, case.context)
        print(json.dumps({"id": case.name, "label": case.expected[0],
                          "ranked": [c.id for c in ranked[:3]],
                          "raw": round(ranked[0].confidence, 4) if ranked else None,
                          "lead": bool(getattr(ranked[0], "lead", False)) if ranked else None}))
"""


def run_at(commit: str, code: str, *args: str) -> subprocess.CompletedProcess[str] | None:
    """`python -c code args` in a temporary git worktree of `commit`, with this checkout's
    corpus (AUTOGLM_CORPUS_DIRS: the batch may not be in the old tree yet); None when this clone
    lacks the commit. The worktree is removed after."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach",
                                str(tree), commit], capture_output=True, text=True, check=False)
        if added.returncode:
            return None
        try:
            corpus = ROOT / "tests" / "fixtures" / "corpus"
            env = {"AUTOGLM_CORPUS_DIRS": str(corpus), "PATH": "/usr/bin:/bin"}
            return subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env,
                                  capture_output=True, text=True, check=False)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=True)


def scored_at(commit: str, prefixes: str) -> tuple[str, list[dict[str, Any]]] | None:
    """The full commit id and what its code says of the tune logs PREFIXES names (id, label,
    the top 3 ranked, the top's raw score, lead), calibration off; None when this clone lacks
    the commit."""
    full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "-q",
                           f"{commit}^{{commit}}"], capture_output=True, text=True, check=False)
    if full.returncode:
        return None
    done = run_at(full.stdout.strip(), _SCORER, prefixes, str(ROOT))
    if done is None:
        return None
    done.check_returncode()
    return full.stdout.strip(), [json.loads(line) for line in done.stdout.splitlines()]


def score(commit: str, prefixes: str) -> list[dict[str, object]]:
    found = scored_at(commit, prefixes)
    if found is None:
        raise SystemExit(f"{commit}: not in this clone")
    full, scored = found
    rows: list[dict[str, object]] = []
    for row in scored:
        ranked = row["ranked"]
        assert isinstance(ranked, list)
        rows.append({"id": row["id"], "code": full[:12], "raw": row["raw"],
                     "top1": ranked[:1] == [row["label"]], "top3": row["label"] in ranked,
                     "lead": row["lead"]})
    return rows


def add_lead() -> int:
    """Rows scored before session 31 lack "lead" (whether the top cause was a lead, which the
    calibration of leads needs): score their logs again with the code that scored them, check
    that the raw score and the hits are the same, and write the flag in."""
    lines = [line for line in OUT.read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in lines]
    todo: dict[str, list[str]] = {}
    for row in rows:
        if "lead" not in row:
            todo.setdefault(row["code"], []).append(row["id"])
    found: dict[str, dict[str, object]] = {}
    for code, ids in todo.items():
        for again in score(code, "=" + ",".join(ids)):
            found[str(again["id"])] = again
    for row in rows:
        if "lead" in row:
            continue
        again = found.get(row["id"])
        if again is None or any(again[k] != row[k] for k in ("raw", "top1", "top3")):
            raise SystemExit(f"{OUT.name}: {row['id']} scores otherwise at {row['code']} now "
                             f"({again}); nothing written")
        row["lead"] = again["lead"]
    OUT.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"added the lead flag to {len(found)} rows of {OUT}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if sys.argv[1:] == ["--add-lead"]:
        return add_lead()
    parser.add_argument("commit")
    parser.add_argument("prefixes")
    parser.add_argument("--write", action="store_true", help=f"append to {OUT.name}")
    parser.add_argument("--replace", action="store_true",
                        help="with --write, replace the rows of logs scored before (a batch "
                             "scored by mistake); without it a log already scored is refused")
    args = parser.parse_args()
    rows = score(args.commit, args.prefixes)
    n = len(rows)
    if not n:
        print(f"no tune logs with ids starting with {args.prefixes!r}")
        return 1
    top1 = sum(bool(r["top1"]) for r in rows)
    top3 = sum(bool(r["top3"]) for r in rows)
    print(f"| batch | code | tune logs | top-1 | top-3 |\n|---|---|---|---|---|\n"
          f"| {args.prefixes} | {rows[0]['code']} | {n} | {top1 / n:.1%} | {top3 / n:.1%} |")
    if args.write:
        old = OUT.read_text().splitlines() if OUT.exists() else []
        try:
            lines = merge_rows(old, rows, replace=args.replace)
        except ValueError as refused:
            print(f"{OUT.name}: nothing written: {refused}")
            return 2
        OUT.write_text("\n".join(lines) + "\n")
        print(f"wrote {len(rows)} rows to {OUT}")
    return 0


def merge_rows(old: list[str], rows: list[dict[str, object]], *, replace: bool) -> list[str]:
    """The file's lines with `rows` added. A log is fresh once, before any rule for it: a row
    for a log already scored is refused (a prefix that took older batches by mistake, "dq"
    read as the letters d and q), unless `replace` says the earlier rows were the mistake."""
    ids = {r["id"] for r in rows}
    kept = [line for line in old if line.strip()]
    again = sorted(i for i in (json.loads(line)["id"] for line in kept) if i in ids)
    if again and not replace:
        shown = ", ".join(again[:5]) + (", ..." if len(again) > 5 else "")
        raise ValueError(f"{len(again)} of these logs were scored fresh before ({shown}); check "
                         "the prefixes ('dq,' for the one prefix dq), or pass --replace")
    kept = [line for line in kept if json.loads(line)["id"] not in ids]
    return kept + [json.dumps(r) for r in rows]


if __name__ == "__main__":
    sys.exit(main())
