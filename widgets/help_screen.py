"""`?`: every key of the console, grouped by where it works (a row with no description is a
group's heading), with what it does. Escape or `?` closes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
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
        # One two-column grid per group: a description that wraps stays in its column.
        key_width = max((len(keys) for keys, what in self.rows if what), default=0)
        parts: list[RenderableType] = []
        table: Table | None = None
        for keys, description in self.rows:
            if not description:
                if parts:
                    parts.append(Text(""))
                parts.append(Text(keys, style="bold underline"))
                table = None
                continue
            if table is None:
                table = Table.grid(padding=(0, 2))
                table.add_column(width=key_width, no_wrap=True, style="bold")
                table.add_column(ratio=1)
                parts.append(table)
            table.add_row(keys, description)
        with VerticalScroll() as scroll:
            scroll.border_title = "keys"
            scroll.border_subtitle = "esc or ? closes"
            yield Static(Group(*parts), id="help-table")

    def action_close(self) -> None:
        self.dismiss()
