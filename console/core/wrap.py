"""Wrapping a line so that its continuation rows keep its indentation.

A traceback frame (`  File "x.py", line 3, in f`), a fix under its heading (`  • download it
again`) or a report line wrapped at 80 columns stays under its own indentation: each
continuation row starts at the line's indentation plus two cells. One algorithm for every
multi-line text area of the screen: `wrap_ranges` says where a line breaks (offsets into the
line, so a caller with styled text cuts its own spans at the same places), `wrap_keeping_indent`
applies it to plain text.

Pure: no textual, no I/O. Widths are in characters (one cell each).
"""

from __future__ import annotations

__all__ = ["HANGING", "continuation_indent", "wrap_keeping_indent", "wrap_ranges"]

HANGING = 2  # continuation rows start this many cells right of the line's own indentation
MIN_WIDTH = 8  # narrower than this nothing is wrapped (there is no room for an indent)


def continuation_indent(line: str, width: int) -> int:
    """The cells a continuation row of `line` starts with: its indentation plus HANGING, at
    most half the width (a deeply indented line still gets room for its words)."""
    indent = len(line) - len(line.lstrip(" "))
    return min(indent + HANGING, max(0, width // 2))


def wrap_ranges(line: str, width: int, *, first_width: int | None = None) -> list[tuple[int, int]]:
    """Where `line` breaks: (start, end) offsets of each row's text (the spaces at a break are
    in no row). The first row has `first_width` cells (default `width`), the others `width`
    less the continuation indent. Breaks fall after spaces; a word longer than the room is cut.
    One range (0, len) when it fits or when `width` is too small to wrap."""
    first = width if first_width is None else first_width
    n = len(line)
    if n <= first or width < MIN_WIDTH or first < 1:
        return [(0, n)]
    indent = continuation_indent(line, width)
    rest = max(1, width - indent)
    rows: list[tuple[int, int]] = []
    start = 0
    room = first
    while n - start > room:
        cut = line.rfind(" ", start + 1, start + room + 1)
        if cut <= start:  # no space in reach: cut the word
            end = next_start = start + room
        else:
            end = cut
            while end > start and line[end - 1] == " ":
                end -= 1
            next_start = cut
        while next_start < n and line[next_start] == " ":
            next_start += 1
        rows.append((start, end))
        start, room = next_start, rest
    if start < n or not rows:
        rows.append((start, n))
    return rows


def wrap_keeping_indent(text: str, width: int) -> str:
    """Each line of `text` wrapped to `width`, its continuation rows indented under it."""
    if width < MIN_WIDTH:
        return text
    out: list[str] = []
    for line in text.split("\n"):
        ranges = wrap_ranges(line, width)
        if len(ranges) == 1:
            out.append(line)
            continue
        pad = " " * continuation_indent(line, width)
        out.extend((pad if n else "") + line[a:b] for n, (a, b) in enumerate(ranges))
    return "\n".join(out)
