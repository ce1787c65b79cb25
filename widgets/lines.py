"""Building one terminal line (a Strip) from styled parts, for the widgets redrawn every tick.

Those widgets implement Textual's line API (`render_line`) instead of `render`: it skips the
conversion of a renderable to Content and strips on every redraw, which at one sample a second
is most of the dashboard's idle cost.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip


def strip_of(parts: Iterable[tuple[str, Style | None]], width: int, base: Style) -> Strip:
    """`parts` on the widget's `base` style, cropped or padded to exactly `width` cells."""
    segments = [Segment(text, base + style if style else base) for text, style in parts if text]
    return Strip(segments).adjust_cell_length(width, base)
