"""Per-core CPU use as one row of block characters, coloured by the cpu thresholds.

With more cores than cells, neighbouring cores share a cell (the busiest one shows).
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from console.host.config import Levels
from widgets.levels import StyleCacheMixin
from widgets.lines import strip_of
from widgets.spark import BLOCKS


class CoreBars(StyleCacheMixin, Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"cores--ok", "cores--warn", "cores--critical"}
    DEFAULT_CSS = """
    CoreBars { height: 1; width: 1fr; }
    CoreBars > .cores--ok { color: $success 70%; }
    CoreBars > .cores--warn { color: $warning; }
    CoreBars > .cores--critical { color: $error; }
    """

    per_core_pct: reactive[tuple[float, ...]] = reactive(())

    def __init__(self, levels: Levels, *, label: str = "cores", id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.levels = levels
        self.label = label

    def render_line(self, y: int) -> Strip:
        width, base = self.size.width, self.rich_style
        if y != 0:
            return Strip.blank(width, base)
        values = self.per_core_pct
        label = f"{self.label} ".ljust(5)
        group = max(1, math.ceil(len(values) / max(1, width - len(label))))
        parts: list[tuple[str, Style | None]] = [(label, None)]
        for start in range(0, len(values), group):
            value = max(values[start:start + group])
            index = round(min(max(value / 100.0, 0.0), 1.0) * (len(BLOCKS) - 1))
            parts.append((BLOCKS[max(index, 1)],
                          self.component_style(f"cores--{self.levels.colour(value)}")))
        return strip_of(parts, width, base)
