"""`autoglm-console diagnose [FILE|-] [--json] [--follow]`: name the root causes of a failure in a
log.

`--follow FILE` keeps reading FILE as it grows (appends, rotation and truncation followed; the
last 400 lines already there are read first, or all of it with `--from-start`) and prints one
JSON line per new incident: `{"file", "kind", "first_line", "last_line", "summary", "causes"}`
(`first_line`/`last_line` count from 0 in the stream read since the last rotation or
truncation, `"restart"` says how many times that happened). It runs until interrupted.

Reads a log file (or stdin), prints the recognised causes best first: a readable report, or with
`--json` `{"causes": [{"id", "confidence", "title", "explanation", "evidence", "fixes", "facts",
"lead"}]}` (`{"causes": []}` when nothing is recognised; `lead` is true for a weak lead that only
completes the top-3). Exit 0 either way; 2 for usage errors and a
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
    parser.add_argument("--follow", action="store_true",
                        help="keep reading FILE as it grows; one JSON line per new incident")
    parser.add_argument("--from-start", action="store_true",
                        help="with --follow: read the whole file first, not only its last 400 "
                             "lines")
    parser.add_argument("--poll-interval", type=float, default=0.2, metavar="SECONDS",
                        help="with --follow: how often to look for new lines (default 0.2)")


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


_FOLLOW_BACKLOG = 400  # lines already in the file read before following
_IDLE_FLUSH_S = 1.0  # a traceback still open after this long without new lines is complete


def follow(file: str, *, from_start: bool, interval: float) -> int:
    import time

    from console.core.diagnose import DiagnosedError, StreamingDiagnoser
    from console.host.logfollow import LogFile, LogFileError

    try:
        log = LogFile(Path(file))
    except LogFileError as exc:
        print(f"autoglm-console diagnose: {exc}", file=sys.stderr)
        return 2
    restart = 0
    diagnoser = StreamingDiagnoser()

    def emit(errors: list[DiagnosedError]) -> None:
        for error in errors:
            if not error.causes and error.kind != "traceback":
                continue
            print(json.dumps({
                "file": file, "restart": restart, "kind": error.kind,
                "first_line": error.first_line,
                "last_line": error.last_line, "summary": error.summary,
                "causes": [c.to_dict() for c in error.causes],
            }, ensure_ascii=True), flush=True)

    if from_start:
        log.seek_start()
    else:
        log.seek_end()
        for line in log.tail_lines(_FOLLOW_BACKLOG, end=log.read_offset):
            emit(diagnoser.feed(line))
    last_data = time.monotonic()
    flushed = True
    try:
        while True:
            change = log.poll()
            if change.kind in ("truncated", "rotated"):
                for line in change.old_lines:  # the old file's last lines end the old stream
                    emit(diagnoser.feed(line))
                emit(diagnoser.flush())
                restart += 1
                diagnoser = StreamingDiagnoser()
            for line in change.lines:
                emit(diagnoser.feed(line))
            now = time.monotonic()
            if change.lines:
                last_data, flushed = now, False
            elif not flushed and now - last_data >= _IDLE_FLUSH_S:
                emit(diagnoser.flush())
                flushed = True
            time.sleep(interval)
    except KeyboardInterrupt:
        emit(diagnoser.flush())
        return 0
    finally:
        log.close()


def run(args: argparse.Namespace, config: Config) -> int:
    from console.host.bounded import diagnose_stream

    if args.follow:
        if args.file in (None, "-"):
            print("autoglm-console diagnose: --follow needs a FILE (not standard input)",
                  file=sys.stderr)
            return 2
        return follow(args.file, from_start=args.from_start,
                      interval=max(0.02, args.poll_interval))

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
        lead = ", weak lead" if cause.lead else ""
        print(f"{rank}. {cause.title}  [{cause.id}, confidence {cause.confidence:.2f}{lead}]")
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
