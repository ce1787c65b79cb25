"""One key of the console, declared once: `KeySpec`.

A key is declared in one row, and everything the user sees of it is made from that row: the
app's binding, the command palette's entry, the `?` screen's line and, when the key cannot act
now, the one line that says why (console/core/keys.py). An engine command that a key sends as
it is declares its row on its protocol class (`Gc.KEY`), next to its fields; the app sends it
with one generic action, so adding such a command does not touch the app. No textual here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# Where a key works. "app": everywhere, also under a dialog (quit, help, tabs); "engine": from
# every tab, not under a dialog (console/app.py `check_action`); "dashboard": on the Dashboard
# only (elsewhere it says so); "widget": bound by a widget (the log, the prompt), listed in the
# help only.
Scope = Literal["app", "engine", "dashboard", "widget"]
# When a key can act (keys.refusal says why not in one line): "running" an engine process
# answers, "loaded" a model is loaded, "loading" a load runs, "generating" a generation runs.
Needs = Literal["running", "loaded", "loading", "generating"]

# A key as shown -> its name for Textual (bindings, `simulate_key`).
KEY_NAMES = {"?": "question_mark", "[": "left_square_bracket", "]": "right_square_bracket",
             "+": "plus", "-": "minus", "/": "slash", "Esc": "escape", "Enter": "enter",
             "End": "end"}


@dataclass(frozen=True, slots=True)
class KeySpec:
    key: str  # as shown in the help, the palette and the footer: "G", "ctrl+s", "+", "Esc"
    title: str  # the palette's title and the binding's description: "Memory report"
    help: str  # the `?` line; rows of one group with the same line share it ("A / P / R")
    group: str = "engine"  # the `?` group it is listed in (keys.HELP_HEADINGS)
    palette: str | None = None  # the palette's line under the title; None: not in the palette
    needs: Needs | None = None  # when it can act; None: always (or keys.refusal says)
    action: str = ""  # the app's action; an engine command's is its protocol NAME (keys sets it)
    scope: Scope = "engine"
    show: bool = False  # in a dialog's footer (the main screen's footer follows the state)
    help_keys: str | None = None  # the keys shown for a shared `?` line ("1 2 3 / [ ]")
    # An engine command's fields, made when the key is pressed (e.g. the send time).
    fields: Callable[[], Mapping[str, Any]] | None = None

    @property
    def key_name(self) -> str:
        """The key's name for Textual: "question_mark" for "?"."""
        return KEY_NAMES.get(self.key, self.key)
