"""`C`: the path prompt of the migration check: which saved fingerprint is the reference (A)
that the one just recorded here (B) is compared with.

    app.push_screen(CompareScreen(recorded, recent), callback)   # callback(path | None)

Like the log-file prompt (`f`): type a path and Enter, or pick one of the last recorded
fingerprints from the list (↓ into it, Enter). Escape cancels. The file is only checked to
exist here; the app reads and validates it off the UI thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from console.core.termsafe import safe
from console.host.paths import typed_file


class CompareScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="compare.cancel"),
    ]
    DEFAULT_CSS = """
    CompareScreen { align: center middle; }
    CompareScreen > Vertical { width: 90; max-width: 100%; height: auto; border: round $accent;
                               padding: 0 1; }
    CompareScreen #compare-recent { height: auto; max-height: 10; }
    CompareScreen #compare-problem { color: $error; }
    """

    def __init__(self, recorded: Path, recent: Sequence[Path]) -> None:
        super().__init__()
        self.recorded = recorded
        self.recent = [p for p in recent if p != recorded]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe(f"Compare the fingerprint recorded here ({self.recorded.name}) "
                              "with a saved one, the reference (A): the path of its file, "
                              "or one recorded before (↓, Enter)."))
            yield Input(placeholder="path of a fingerprint file (the reference)",
                        id="compare-path")
            options = [Option(safe(f"{p.name}  ({_when(p)})"), id=str(i))
                       for i, p in enumerate(self.recent)]
            if options:
                yield OptionList(*options, id="compare-recent")
            else:
                yield Static("no other fingerprint recorded yet", id="compare-none")
            yield Static("", id="compare-problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path, problem = typed_file(event.value)
        if problem is not None:
            self.query_one("#compare-problem", Static).update(Content(problem))  # text, not markup
        if path is not None:
            self.dismiss(str(path))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = int(event.option.id or 0)
        self.dismiss(str(self.recent[index]))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _when(path: Path) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
    except OSError:
        return "gone"
