"""Pick a model: `demo` and what the Hugging Face cache holds, with sizes.

The caller passes the rows (name, description); listing the cache reads only directory
metadata (console.core.hfcache.list_cached). Enter picks, Escape closes.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ModelPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical {
        width: 90; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ModelPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="picker.close"),
    ]

    def __init__(self, rows: list[tuple[str, str]], note: str | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Pick a model (Enter), Escape closes", id="picker-title")
            yield OptionList(*[Option(f"{name:<40} {text}", id=name) for name, text in self.rows],
                             id="picker-list")
            if self.note:
                yield Static(self.note, id="picker-note", markup=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)
