"""A small `label value` reading (utilisation, temperature, rates), coloured by level."""

from __future__ import annotations

from textual.strip import Strip
from textual.widget import Widget

from widgets.levels import set_level
from widgets.lines import strip_of


class Reading(Widget):
    """Width follows the text; a new value of the same length repaints without a new layout
    (a layout pass repaints the whole screen, which at one sample a second is most of the
    dashboard's idle cost)."""

    DEFAULT_CSS = """
    Reading { width: auto; height: 1; margin-right: 2; }
    Reading.-warn { color: $warning; }
    Reading.-critical { color: $error; text-style: bold; }
    Reading.-na { color: $text-muted; }
    """

    def __init__(self, label: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.label = label
        self.text = label
        set_level(self, "na")

    def show(self, value: str, level: str = "ok") -> None:
        text = f"{self.label} {value}" if self.label else value
        if text != self.text:
            self.refresh(layout=len(text) != len(self.text))
            self.text = text
        set_level(self, level)

    def get_content_width(self, container: object, viewport: object) -> int:
        return len(self.text)

    def render_line(self, y: int) -> Strip:
        if y != 0:
            return Strip.blank(self.size.width, self.rich_style)
        return strip_of([(self.text, None)], self.size.width, self.rich_style)
