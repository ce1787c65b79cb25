"""A migration verdict card (issue 18): two fingerprints compared, shown like a cause card.

The first line is the verdict (identical, close, different weights, different tokenizer or
config, diverged, incomparable), then which fingerprints were compared (A the reference, B the
one recorded here), then the evidence lines of `console.core.fingerprint.render_text` (the
same lines `autoglm-console compare` prints: the log-probability difference, the first
divergence, the changed tensors and files, the environment changes, the likely causes). Keys:
Enter shows every line or the first few, `c` copies the card's text.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from console.core.fingerprint import Verdict, render_text
from console.core.termsafe import safe

LINES_FOLDED = 8  # evidence lines shown before Enter unfolds the rest


class VerdictCard(Widget, can_focus=True):
    DEFAULT_CSS = """
    VerdictCard {
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
        background: $boost;
        border-left: thick $error;
        &.-equivalent { border-left: thick $success; }
        &:focus { background: $primary 20%; border-left: thick $accent; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "toggle_expanded", "Expand", id="verdict_card.toggle"),
        Binding("c", "copy", "Copy card", id="verdict_card.copy"),
    ]

    expanded: reactive[bool] = reactive(False, layout=True)

    def __init__(self, verdict: Verdict, reference: Path, recorded: Path, *,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="-equivalent" if verdict.equivalent else "")
        self.verdict = verdict
        self.reference = reference
        self.recorded = recorded

    def evidence(self) -> list[str]:
        """The verdict's lines (the CLI's text) after its first (the verdict itself)."""
        return render_text(self.verdict)[1:]

    def card_text(self) -> str:
        lines = [f"migration check: {self.verdict.verdict}",
                 f"A (reference): {self.reference}", f"B (recorded here): {self.recorded}",
                 *self.evidence()]
        return "\n".join(lines)

    def render(self) -> Content:
        v = self.verdict
        parts: list[str | tuple[str, str]] = []

        def add(text: str, style: str = "") -> None:
            text = safe(text)  # token texts come from the model
            parts.append((text, style) if style else text)

        colour = "$success" if v.equivalent else "$error"
        add("● ", f"bold {colour}")
        add(f"migration check: {v.verdict.replace('_', ' ')}\n", "bold")
        add(f"A {self.reference.name} (reference) · B {self.recorded.name} (recorded here)\n",
            "$text-muted")
        lines = self.evidence()
        shown = lines if self.expanded else lines[:LINES_FOLDED]
        for line in shown:
            style = "bold" if line.startswith(("changed tensor", "first divergence",
                                               "likely cause")) else ""
            add(f"{line}\n", style)
        more = len(lines) - len(shown)
        hint = f"⏎ {more} more lines · " if more > 0 else ("⏎ fold · " if self.expanded and
                                                             len(lines) > LINES_FOLDED else "")
        add(f"{hint}c copy", "$text-muted")
        return Content.assemble(*parts)

    def action_toggle_expanded(self) -> None:
        self.expanded = not self.expanded

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.card_text())
        self.notify(f"copied the verdict: {self.verdict.verdict}")
