#!/usr/bin/env python3
"""How the diagnosis holds when a log loses its last lines: tune logs cut on purpose.

    .venv/bin/python benchmarks/diagnose_cut.py

Every tune log of the corpus whose traceback ends in an exception line, and which the diagnosis
names right (top-1) whole, is diagnosed again in shortened forms:

- "cut before the exception": everything before the final exception line (a paste that stops at
  the last frame, a terminal scrolled off, a CI log cut at a size limit);
- "half the exception line": the exception line cut in the middle;
- "message without its type": the exception line without "SomeError: ".

Each log is diagnosed with the word statistics of the other folds (as a new log would be: see
diagnose_calibrate.out_of_fold). Prints, per form, how many logs keep their cause first and in the
top-3. The held-back split is never read.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import diagnose_calibrate as fitting

from console.core.diagnose import diagnose_text
from tests.fixtures.corpus.corpus import corpus_cases

_EXCEPTION = re.compile(r"^\s*[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)(?::|$)")


def _cut_before(lines: list[str], at: int) -> str:
    return "\n".join(lines[:at])


def _half(lines: list[str], at: int) -> str:
    line = lines[at]
    return "\n".join([*lines[:at], line[: max(16, len(line) // 2)]])


def _untyped(lines: list[str], at: int) -> str:
    return "\n".join([*lines[:at], lines[at].split(": ", 1)[-1], *lines[at + 1:]])


FORMS: dict[str, Callable[[list[str], int], str]] = {
    "cut before the exception": _cut_before,
    "half the exception line": _half,
    "message without its type": _untyped,
}


def main() -> int:
    fitting.fit_lexical()
    counts = {form: [0, 0, 0] for form in FORMS}
    for case in corpus_cases("tune"):
        lines = case.text.rstrip("\n").split("\n")
        exceptions = [i for i, line in enumerate(lines) if _EXCEPTION.match(line)]
        if not exceptions or not any(line.lstrip().startswith('File "')
                                     for line in lines[:exceptions[-1]]):
            continue
        at, label = exceptions[-1], case.expected[0]
        with fitting.out_of_fold(case):
            if [c.id for c in diagnose_text(case.text)[:1]] != [label]:
                continue
            for form, shorten in FORMS.items():
                ids = [c.id for c in diagnose_text(shorten(lines, at))[:3]]
                row = counts[form]
                row[0] += 1
                row[1] += ids[:1] == [label]
                row[2] += label in ids
    print(f"{'form (tune logs named right whole)':36s} {'logs':>5s} {'top-1':>7s} {'top-3':>7s}")
    for form, (n, top1, top3) in counts.items():
        if n:
            print(f"{form:36s} {n:5d} {top1 / n:7.1%} {top3 / n:7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
