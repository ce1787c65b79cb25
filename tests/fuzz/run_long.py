#!/usr/bin/env python3
"""The long fuzz run: the targets of tests/fuzz/test_fuzz.py with many more examples.

    .venv/bin/python tests/fuzz/run_long.py [--examples N] [-k EXPR]

Runs pytest on tests/fuzz/test_fuzz.py with the `fuzz-long` hypothesis profile (chosen by
the AUTOGLM_FUZZ_EXAMPLES environment variable) (20,000
examples per target by default, random seeds, hypothesis' example database on so a crash
found is replayed next time). Every crash it finds: fix it, then add its input to
REGRESSIONS in test_fuzz.py. Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("-k", default=None, help="pytest -k expression (pick targets)")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT), AUTOGLM_FUZZ_EXAMPLES=str(args.examples))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "fuzz" / "test_fuzz.py"), "--hypothesis-show-statistics",
           "-x"]
    if args.k:
        cmd += ["-k", args.k]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
