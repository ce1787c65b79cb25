"""A one-line labelled bar: `VRAM ██████▌░░░░░░ 61.2 / 79.6 GiB 77%`, coloured by level."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from widgets.levels import StyleCacheMixin, set_level
from widgets.lines import strip_of

EIGHTHS = " ▏▎▍▌▋▊▉"


def bar_cells(fraction: float | None, width: int) -> tuple[int, str, int]:
    """(full cells, partial-cell character or "", empty cells) for a bar `width` cells wide."""
    if width <= 0:
        return 0, "", 0
    if fraction is None:
        return 0, "", width
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    partial = EIGHTHS[part] if part else ""
    return full, partial, width - full - len(partial)


class Meter(StyleCacheMixin, Widget):
    """Label, bar and detail text on one line. The bar takes the width the others leave."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "meter--label", "meter--empty", "meter--ok", "meter--warn", "meter--critical", "meter--na",
    }
    DEFAULT_CSS = """
    Meter { height: 1; width: 2fr; min-width: 20; }
    Meter > .meter--label { text-style: bold; }
    Meter > .meter--empty { background: $foreground 12%; }
    Meter > .meter--ok { color: $success; }
    Meter > .meter--warn { color: $warning; }
    Meter > .meter--critical { color: $error; }
    Meter > .meter--na { color: $text-muted; }
    Meter.-critical { text-style: bold; }
    """

    fraction: reactive[float | None] = reactive(None)
    detail: reactive[str] = reactive("")
    level: reactive[str] = reactive("na")

    def __init__(self, label: str, *, label_width: int = 5, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.label = label
        self.label_width = label_width
        set_level(self, "na")

    def show(self, fraction: float | None, detail: str, level: str) -> None:
        """Set what the meter shows; it re-renders only if something changed."""
        self.fraction = fraction
        self.detail = detail
        self.level = level

    def watch_level(self, level: str) -> None:
        set_level(self, level)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y != 0:
            return Strip.blank(width, base)
        label = self.label.ljust(self.label_width)[: self.label_width]
        detail = f" {self.detail}" if self.detail else ""
        bar_width = max(0, width - len(label) - len(detail))
        full, partial, empty = bar_cells(self.fraction, bar_width)
        # The empty part is a dim background, so a bar reads as a bar in any font.
        empty_style = self.component_style("meter--empty")
        fill_style = self.component_style(f"meter--{self.level}")
        return strip_of([
            (label, self.component_style("meter--label")),
            ("█" * full, fill_style),
            (partial, fill_style + Style(bgcolor=empty_style.bgcolor)),
            (" " * empty, empty_style),
            (detail, None),
        ], width, base)

    def render_text(self) -> str:
        """The line as plain text (for tests and logs)."""
        return self.render_line(0).text
