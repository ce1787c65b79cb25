"""`autoglm-console diagnose [FILE|-] [--json]`: name the root causes of a failure in a log.

Reads a log file (or stdin), prints the recognised causes best first: a readable report, or with
`--json` `{"causes": [{"id", "confidence", "title", "explanation", "evidence", "fixes", "facts"}]}`
(`{"causes": []}` when nothing is recognised). Exit 0 either way; 2 for usage errors and a
closed standard input; 141 (as a shell reports SIGPIPE) when the reader of stdout goes away
(`... | head`), quietly. The read is bounded (console/host/bounded.py): memory stays flat, and
an endless stream stops after 1 GiB with a message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO

from console.host.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", metavar="FILE",
        help="log file to read; '-' (or a pipe with no FILE) reads standard input",
    )
    parser.add_argument("--json", action="store_true", help="print the causes as JSON")


def _open(file: str | None) -> tuple[IO[bytes] | None, str]:
    """(binary stream, problem): the log to read, or None and one line saying what is wrong."""
    if file is None or file == "-":
        stdin = sys.stdin
        if stdin is None or getattr(stdin, "buffer", None) is None:
            return None, "standard input is closed: pass a FILE, or pipe a log into it ('-')"
        if file is None and stdin.isatty():
            return None, "no log given: pass a FILE, or pipe a log into standard input ('-')"
        return stdin.buffer, ""
    path = Path(file)
    try:
        return path.open("rb"), ""
    except FileNotFoundError:
        return None, f"{file}: no such file"
    except IsADirectoryError:
        return None, f"{file}: is a directory, not a log file"
    except PermissionError:
        return None, f"{file}: permission denied (check its owner and mode, e.g. chmod u+r)"
    except OSError as exc:
        return None, f"{file}: cannot read it ({exc.strerror or exc})"


def run(args: argparse.Namespace, config: Config) -> int:
    from console.host.bounded import diagnose_stream

    stream, problem = _open(args.file)
    if stream is None:
        print(f"autoglm-console diagnose: {problem}", file=sys.stderr)
        return 2
    try:
        # Bounded: memory stays flat whatever the log's size; an endless stream stops at
        # console.host.bounded.MAX_READ_BYTES with a message (docs/diagnose.md).
        result = diagnose_stream(stream)
    except OSError as exc:
        print(f"autoglm-console diagnose: {args.file or '-'}: cannot read it "
              f"({exc.strerror or exc})", file=sys.stderr)
        return 2
    finally:
        if stream is not getattr(sys.stdin, "buffer", None):
            stream.close()
    causes = result.causes
    if result.stopped:
        print(f"autoglm-console diagnose: {result.stopped}", file=sys.stderr)
    if args.json:
        print(json.dumps({"causes": [c.to_dict() for c in causes]}, indent=2, ensure_ascii=False))
        return 0
    lines_read = result.lines
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
