"""`autoglm-console diagnose [FILE|-] [--json]`: name the root causes of a failure in a log.

Reads a log file (or stdin), prints the recognised causes best first: a readable report, or with
`--json` `{"causes": [{"id", "confidence", "title", "explanation", "evidence", "fixes", "facts"}]}`
(`{"causes": []}` when nothing is recognised). Exit 0 either way; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from console.host.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", metavar="FILE",
        help="log file to read; '-' (or a pipe with no FILE) reads standard input",
    )
    parser.add_argument("--json", action="store_true", help="print the causes as JSON")


def _read(file: str | None) -> tuple[str | None, str]:
    """(text, problem): the log's text, or None and one line saying what is wrong."""
    if file is None or file == "-":
        if file is None and sys.stdin.isatty():
            return None, "no log given: pass a FILE, or pipe a log into standard input ('-')"
        return sys.stdin.buffer.read().decode("utf-8", errors="replace"), ""
    path = Path(file)
    try:
        return path.read_bytes().decode("utf-8", errors="replace"), ""
    except FileNotFoundError:
        return None, f"{file}: no such file"
    except IsADirectoryError:
        return None, f"{file}: is a directory, not a log file"
    except PermissionError:
        return None, f"{file}: permission denied"
    except OSError as exc:
        return None, f"{file}: cannot read it ({exc.strerror or exc})"


def run(args: argparse.Namespace, config: Config) -> int:
    from console.core.diagnose import diagnose_text

    text, problem = _read(args.file)
    if text is None:
        print(f"autoglm-console diagnose: {problem}", file=sys.stderr)
        return 2
    causes = diagnose_text(text)
    if args.json:
        print(json.dumps({"causes": [c.to_dict() for c in causes]}, indent=2, ensure_ascii=False))
        return 0
    lines_read = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    if not causes:
        print(f"No known root cause recognised in {lines_read} lines.")
        return 0
    print(f"{len(causes)} possible cause{'s' if len(causes) > 1 else ''} in {lines_read} lines, "
          "best first:")
    for rank, cause in enumerate(causes, start=1):
        print()
        print(f"{rank}. {cause.title}  [{cause.id}, confidence {cause.confidence:.2f}]")
        print(f"   {cause.explanation}")
        if cause.evidence:
            print("   evidence:")
            for line in cause.evidence:
                print(f"     | {line}")
        if cause.facts:
            print("   figures: " + "; ".join(f"{label} {value}" for label, value in cause.facts))
        if cause.fixes:
            print("   fixes:")
            for fix in cause.fixes:
                print(f"     - {fix}")
    return 0
