"""One line of tab labels, `1 Dashboard  2 Model  3 Log`, the active one highlighted.

Lighter than Textual's Tabs (one widget, one line instead of two: a row matters at 80x24).
Keys switch tabs through the app's bindings; a click on a label posts `TabStrip.Selected`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from widgets.levels import StyleCacheMixin
from widgets.lines import strip_of


class TabStrip(StyleCacheMixin, Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"tab-strip--active", "tab-strip--inactive"}
    DEFAULT_CSS = """
    TabStrip { height: 1; background: $panel; }
    TabStrip > .tab-strip--active { background: $primary; color: $text; text-style: bold; }
    TabStrip > .tab-strip--inactive { color: $text-muted; }
    """

    active: reactive[str] = reactive("")

    class Selected(Message):
        def __init__(self, tab: str) -> None:
            super().__init__()
            self.tab = tab

    def __init__(self, tabs: Sequence[tuple[str, str]], *, id: str | None = None) -> None:
        """`tabs`: (id, label) in order; label n is shown as `n label`."""
        super().__init__(id=id)
        self.tabs = list(tabs)
        self.active = self.tabs[0][0] if self.tabs else ""
        self.badges: dict[str, str] = {}  # tab id -> a mark after its label ("(2!)")

    def set_badge(self, tab: str, badge: str | None) -> None:
        if badge:
            self.badges[tab] = badge
        else:
            self.badges.pop(tab, None)
        self.refresh()

    def labels(self) -> list[tuple[str, str]]:
        """(tab id, the text shown for it), in order."""
        return [(tab, f" {n} {label}{' ' + self.badges[tab] if tab in self.badges else ''} ")
                for n, (tab, label) in enumerate(self.tabs, 1)]

    def render_line(self, y: int) -> Strip:
        parts: list[tuple[str, Style | None]] = []
        for tab, text in self.labels():
            state = "active" if tab == self.active else "inactive"
            parts += [(text, self.component_style(f"tab-strip--{state}")), (" ", None)]
        return strip_of(parts, self.size.width, self.rich_style)

    def on_click(self, event: events.Click) -> None:
        x = 0
        for tab, text in self.labels():
            if x <= event.x < x + len(text):
                self.post_message(self.Selected(tab))
                return
            x += len(text) + 1
