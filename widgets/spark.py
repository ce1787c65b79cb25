"""A sparkline on a fixed scale (0..maximum), newest value at the right, coloured per column.

Textual's own Sparkline scales between the data's min and max, which makes a flat 61 % RAM
line look like wild swings; pressure needs an absolute scale. Zoomed out, one column is
several samples: the max over them, so a short spike is never averaged away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from console.host.config import Levels
from widgets.levels import StyleCacheMixin
from widgets.lines import strip_of

BLOCKS = " ▁▂▃▄▅▆▇█"


def columns(values: Sequence[float], width: int, window: int | None = None) -> list[float]:
    """At most `width` columns of `values`, newest last, each the max over its samples.

    `window` None: one sample per column (live). Otherwise the columns cover the last `window`
    samples (the whole history when zoomed out). Buckets are aligned to the newest sample.
    """
    span = 1 if window is None else max(1, math.ceil(window / max(1, width)))
    out: list[float] = []
    end = len(values)
    while end > 0 and len(out) < width:
        out.append(max(values[max(0, end - span):end]))
        end -= span
    out.reverse()
    return out


class Spark(StyleCacheMixin, Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"spark--ok", "spark--warn", "spark--critical",
                                             "spark--na"}
    DEFAULT_CSS = """
    Spark { height: 1; width: 1fr; min-width: 8; max-width: 48; margin-left: 1; }
    Spark > .spark--ok { color: $success 70%; }
    Spark > .spark--warn { color: $warning; }
    Spark > .spark--critical { color: $error; }
    Spark > .spark--na { color: $text-muted; }
    """

    # (values, maximum, window): set together so one change means one refresh.
    data: reactive[tuple[tuple[float, ...], float, int | None]] = reactive(((), 100.0, None))

    def __init__(self, levels: Levels | None = None, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.levels = levels
        self._rows_key: object = None
        self._rows: list[Strip] = []

    def show(self, values: Sequence[float], maximum: float, window: int | None = None) -> None:
        """Values oldest first (in the levels' unit); re-renders only if what shows changed."""
        width = self.size.width
        if width:
            # Keep only the samples the columns can show, so an unchanged picture compares
            # equal and costs no redraw.
            span = 1 if window is None else max(1, math.ceil(window / width))
            values = values[-width * span:]
        self.data = (tuple(values), maximum, window)

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, max(1, self.size.height)
        key = (self.data, width, height)
        if self._rows_key != key:
            self._rows_key, self._rows = key, self._render_rows(width, height)
        return self._rows[y] if y < len(self._rows) else Strip.blank(width, self.rich_style)

    def _render_rows(self, width: int, height: int) -> list[Strip]:
        """One row per line of height; each column fills eighths of cells from the bottom."""
        values, maximum, window = self.data
        shown = columns(values, width, window)
        maximum = maximum if maximum > 0 else 1.0
        styles = {name: self.component_style(f"spark--{name}") for name in ("ok", "warn",
                                                                            "critical", "na")}
        cells: list[tuple[int, Style]] = []
        for value in shown:
            eighths = round(min(max(value / maximum, 0.0), 1.0) * height * 8)
            if value > 0 and eighths == 0:
                eighths = 1  # a non-zero value always shows
            level = self.levels.colour(value) if self.levels is not None else "ok"
            cells.append((eighths, styles[level]))
        pad = " " * max(0, width - len(cells))
        rows = []
        for row in range(height):
            floor = (height - 1 - row) * 8  # eighths below this row
            parts: list[tuple[str, Style | None]] = [(pad, None)]
            parts += [(BLOCKS[min(8, max(0, eighths - floor))], style) for eighths, style in cells]
            rows.append(strip_of(parts, width, self.rich_style))
        return rows

    def notify_style_update(self) -> None:
        self._rows_key = None
        super().notify_style_update()
