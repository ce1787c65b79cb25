"""Bounded streaming read of a log for `diagnose`: memory stays flat whatever the input.

A log is read line by line (bytes, decoded per line) into windows of at most `WINDOW_BYTES`;
each window is diagnosed on its own (`console.core.diagnose.diagnose_lines`) and the causes of
all windows are merged (per cause id the most confident finding). A window starts with the
last `OVERLAP_LINES` lines of the one before (at most half a window of them), so a traceback
cut by a window edge is seen whole in the next. A log that fits in one window (nearly all) is
diagnosed exactly as `diagnose_text` would. Peak memory is about one window's parse (~6x
`WINDOW_BYTES`), not the log's size: a 200 MB log is read in well under 2x its size.

Bounds (documented in docs/diagnose.md):
- a line longer than `MAX_LINE_BYTES` keeps its first `MAX_LINE_BYTES` (the rest is skipped);
- reading stops after `MAX_READ_BYTES` (an endless stream such as /dev/zero, a log that never
  ends); `BoundedResult.stopped` then says so, and the causes found so far are reported.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from console.core.diagnose.priors import WANT as FILL_TO
from console.core.units import fmt_bytes

if TYPE_CHECKING:
    from console.core.diagnose import Cause

WINDOW_BYTES = 32 * 1024 * 1024
OVERLAP_LINES = 400
MAX_LINE_BYTES = 64 * 1024  # characters, after decoding
BLOCK_BYTES = 1024 * 1024
MAX_READ_BYTES = 1024 * 1024 * 1024  # 1 GiB


@dataclass
class BoundedResult:
    causes: list[Cause] = field(default_factory=list)
    lines: int = 0  # lines read (a cut line counts once)
    bytes_read: int = 0
    stopped: str | None = None  # why reading stopped before the end, or None


def iter_lines(stream: IO[bytes], *, max_line: int = MAX_LINE_BYTES,
               max_total: int = MAX_READ_BYTES, result: BoundedResult | None = None,
               block: int = BLOCK_BYTES) -> Iterator[str]:
    """Decoded lines (no newline) of a binary stream, each at most `max_line` characters,
    stopping after `max_total` bytes (`result.stopped` set). `result` counts lines and bytes.
    Read in blocks and decoded incrementally (a character cut by a block edge is kept)."""
    res = result if result is not None else BoundedResult()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    skipping = False  # inside an over-long line whose head was given: drop up to its newline
    while True:
        if res.bytes_read >= max_total:
            res.stopped = (f"stopped after reading {fmt_bytes(max_total)}, the most "
                           "one run reads; to diagnose the end of a longer log: "
                           "tail -c 500M FILE | autoglm-console diagnose -")
            break
        chunk = stream.read(min(block, max_total - res.bytes_read))
        if not chunk:
            break
        res.bytes_read += len(chunk)
        parts = decoder.decode(chunk).split("\n")
        if skipping:
            if len(parts) == 1:
                continue
            skipping = False
            parts[0] = ""
            pending = ""
            del parts[0]
        else:
            parts[0] = pending + parts[0]
        pending = parts.pop()
        res.lines += len(parts)
        for line in parts:
            cut = line[:max_line] if len(line) > max_line else line
            yield cut[:-1] if cut.endswith("\r") else cut
        if len(pending) > max_line:
            res.lines += 1
            yield pending[:max_line]
            pending = ""
            skipping = True
    pending += decoder.decode(b"", final=True)
    if pending and not skipping:
        res.lines += 1
        yield pending[:max_line]


def windows(lines: Iterator[str], *, window_bytes: int = WINDOW_BYTES,
            overlap: int = OVERLAP_LINES) -> Iterator[list[str]]:
    """Lists of lines of about `window_bytes` each; each after the first starts with the last
    `overlap` lines of the one before, at most half a window of them: every window brings at
    least half a window of new text (long lines would otherwise make the overlap fill a
    window, and every further line a window of its own)."""
    current: list[str] = []
    size = 0
    fresh = 0  # lines in `current` not already given in the window before
    for line in lines:
        current.append(line)
        fresh += 1
        size += len(line) + 1
        if size >= window_bytes:
            yield current
            current = current[-overlap:] if overlap else []
            size = sum(len(x) + 1 for x in current)
            while current and size > window_bytes // 2:
                size -= len(current.pop(0)) + 1
            fresh = 0
    if fresh or not current:
        yield current


def merge_causes(found: list[list[Cause]]) -> list[Cause]:
    """One list, best first: per cause id the most confident finding of any window; the weak
    leads that filled a window's top-3 come after every finding and only to complete three."""
    if len(found) == 1:
        return found[0]
    best: dict[str, Cause] = {}
    order: dict[str, int] = {}
    for causes in found:
        for cause in causes:
            order.setdefault(cause.id, len(order))
            held = best.get(cause.id)
            if (held is None or (held.lead and not cause.lead)
                    or (held.lead == cause.lead and cause.confidence > held.confidence)):
                best[cause.id] = cause
    ranked = sorted(best.values(), key=lambda c: (c.lead, -c.confidence, order[c.id]))
    findings = [c for c in ranked if not c.lead]
    return findings + [c for c in ranked if c.lead][: max(0, FILL_TO - len(findings))]


def diagnose_stream(stream: IO[bytes], *, window_bytes: int = WINDOW_BYTES,
                    max_total: int = MAX_READ_BYTES) -> BoundedResult:
    """Diagnose a binary stream with bounded memory (see the module docstring)."""
    from console.core.diagnose import diagnose_lines

    result = BoundedResult()
    found: list[list[Cause]] = []
    for window in windows(iter_lines(stream, max_total=max_total, result=result),
                          window_bytes=window_bytes):
        found.append(diagnose_lines(window))
        del window
    result.causes = merge_causes(found)
    return result
