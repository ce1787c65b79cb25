"""`?`: every key of the console, grouped by where it works (a row with no description is a
group's heading), with what it does. Escape or `?` closes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; border-title-color: $text; background: $surface; padding: 0 1;
    }
    HelpScreen #help-table { width: 100%; height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_toggle"),
    ]

    def __init__(self, rows: Sequence[tuple[str, str]]) -> None:
        """`rows`: (keys, what they do), in display order."""
        super().__init__(id="help")
        self.rows = list(rows)

    def compose(self) -> ComposeResult:
        key_width = max((len(keys) for keys, what in self.rows if what), default=0) + 2
        table = Text()
        for n, (keys, description) in enumerate(self.rows):
            if n:
                table.append("\n")
            if not description:
                table.append(("\n" if n else "") + keys, "bold underline")
                continue
            table.append(keys.ljust(key_width), "bold")
            table.append(description)
        with VerticalScroll() as scroll:
            scroll.border_title = "keys"
            scroll.border_subtitle = "esc or ? closes"
            yield Static(table, id="help-table")

    def action_close(self) -> None:
        self.dismiss()
