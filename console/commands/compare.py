"""`autoglm-console compare A.json B.json [--json]`: one migration verdict for two fingerprints.

A is the reference (the machine where the model answered right), B the new one. Verdicts and
their precedence are documented in console/core/fingerprint.py and docs/migration.md. Exit 0
when B is equivalent to A within the tolerance (identical or close), 1 otherwise, 2 for a usage
error (a file that is missing or not a fingerprint: one line naming it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from console.host.config import Config

MAX_FINGERPRINT_BYTES = 256 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A.json", help="the reference fingerprint")
    parser.add_argument("b", metavar="B.json", help="the fingerprint to compare with it")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")


def read_fingerprint(file: str) -> tuple[dict[str, Any] | None, str]:
    """(document, problem): a validated fingerprint, or None and one line naming the file."""
    from console.core.fingerprint import FingerprintError, validate

    path = Path(file)
    try:
        if not path.is_file():
            return None, f"{file}: no such file (record one with `autoglm-console fingerprint`)"
        if path.stat().st_size > MAX_FINGERPRINT_BYTES:
            return None, f"{file}: larger than {MAX_FINGERPRINT_BYTES >> 20} MiB: not a fingerprint"
        doc = json.loads(path.read_text(encoding="utf-8"))
    except PermissionError:
        return None, f"{file}: permission denied"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{file}: cannot read it ({getattr(exc, 'strerror', None) or exc})"
    except (ValueError, RecursionError) as exc:
        return None, f"{file}: not JSON ({str(exc)[:80]})"
    try:
        return validate(doc, file), ""
    except FingerprintError as exc:
        return None, str(exc)


def run(args: argparse.Namespace, config: Config) -> int:
    from console.core.fingerprint import compare, render_text
    from console.core.termsafe import safe_line

    docs = []
    for file in (args.a, args.b):
        doc, problem = read_fingerprint(file)
        if doc is None:
            print(f"autoglm-console compare: {safe_line(problem)}", file=sys.stderr)
            return 2
        docs.append(doc)
    verdict = compare(docs[0], docs[1])
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2, ensure_ascii=True))
    else:
        for line in render_text(verdict):
            print(safe_line(line))
    return verdict.exit_code
