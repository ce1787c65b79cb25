"""Text areas whose wrapped lines keep their indentation, on every screen.

`wrap_content(content, width)` wraps styled Content with the one algorithm of
console/core/wrap.py (a continuation row starts at its line's indentation plus two cells), so
an evidence line under "│ ", a fix under "  • " or a traceback frame stays under its own
start. `IndentedStatic` is a Static drawn that way for the width it has: the pre-flight report,
the model view's result and output blocks, the doctor's details. The cause cards and the log
pane use the same algorithm (widgets/cause_card.py, widgets/log_pane.py).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.content import Content
from textual.widgets import Static

from console.core.wrap import MIN_WIDTH, continuation_indent, wrap_ranges

__all__ = ["IndentedStatic", "wrap_content"]


def wrap_content(content: Content, width: int) -> Content:
    """`content` with each line wrapped to `width` cells, continuation rows indented under
    their line (styles kept)."""
    if width < MIN_WIDTH or all(len(line) <= width for line in content.plain.split("\n")):
        return content
    rows: list[Content] = []
    for line in content.split("\n", allow_blank=True):
        plain = line.plain
        ranges = wrap_ranges(plain, width)
        if len(ranges) == 1:
            rows.append(line)
            continue
        pad = Content(" " * continuation_indent(plain, width))
        cuts = sorted({offset for start, end in ranges for offset in (start, end)} - {0})
        pieces = line.divide(cuts)
        by_start = {}
        offset = 0
        for piece in pieces:
            by_start[offset] = piece
            offset += len(piece.plain)
        for n, (start, end) in enumerate(ranges):
            piece = by_start.get(start, Content(plain[start:end]))
            rows.append(piece if n == 0 else pad + piece)
    return Content("\n").join(rows)


def _as_content(content: Any, markup: bool) -> Content:
    if isinstance(content, Content):
        return content
    if isinstance(content, Text):
        return Content.from_rich_text(content)
    text = str(content)
    return Content.from_markup(text) if markup else Content(text)


class IndentedStatic(Static):
    """A Static whose lines wrap with their indentation kept (drawn for the width it has).
    `raw`: the text as given, unwrapped."""

    def __init__(self, content: Any = "", *, markup: bool = False, **kwargs: Any) -> None:
        super().__init__(content, markup=markup, **kwargs)
        self._markup = markup
        self._source = _as_content(content, markup)

    @property
    def raw(self) -> str:
        return self._source.plain

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        self._source = _as_content(content, self._markup)
        super().update(content, layout=layout)

    def render(self) -> Content:
        width = self.content_region.width
        return wrap_content(self._source, width) if width else self._source

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return wrap_content(self._source, width).plain.count("\n") + 1
