"""A root-cause card: one diagnosed error, its most likely cause and the facts behind it.

Collapsed: the cause's title, id and confidence, what surfaced, the first fix. Expanded
(Enter): the explanation, the evidence lines from the log, every fix, the other candidates, and
the live facts recorded when the error was diagnosed (RAM, swap, VRAM and GPU processes; the
doctor's findings; the model's pre-flight and estimate). Keys: Enter expands or collapses, `c`
copies the card as text (console.core.causetext.format_record: the same text the bundle holds),
`g` shows the error's lines in the log, ↑/↓ move between cards.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from console.core.causetext import ErrorRecord, format_record, without_fixes
from console.core.termsafe import safe
from widgets.wrapped import wrap_content

MAX_EVIDENCE_SHOWN = 6
MAX_FACTS_SHOWN = 12
MAX_SUMMARY = 160


def confidence_text(confidence: float) -> str:
    return f"{confidence * 100:.0f}%"


class CauseCard(Widget, can_focus=True):
    DEFAULT_CSS = """
    CauseCard {
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
        background: $boost;
        border-left: thick $error;
        &.-unknown { border-left: thick $warning 60%; }
        &:focus { background: $primary 20%; border-left: thick $accent; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "toggle_expanded", "Expand", id="card.toggle"),
        Binding("c", "copy", "Copy card", id="card.copy"),
        Binding("g", "show_in_log", "Show in log", id="card.show_in_log"),
        Binding("up", "focus_card(-1)", "Previous card", show=False, id="card.previous"),
        Binding("down", "focus_card(1)", "Next card", show=False, id="card.next"),
    ]

    expanded: reactive[bool] = reactive(False, layout=True)

    class ShowInLog(Message):
        """The user asked to see the card's error in the log (the log view selects its lines)."""

        def __init__(self, card: CauseCard) -> None:
            super().__init__()
            self.card = card

    def __init__(self, record: ErrorRecord, *, first_seq: int | None = None,
                 last_seq: int | None = None, expanded: bool = False,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="" if record.error.causes else "-unknown")
        self.record = record
        self.first_seq = first_seq  # the log pane's entries the error spans, when known
        self.last_seq = last_seq
        self.repeats = 1  # reports of the same incident merged into this card
        self.set_reactive(CauseCard.expanded, expanded)

    def merge(self, record: ErrorRecord, seqs: list[int]) -> None:
        """A later report of the same incident: show it (it says more), span both."""
        self.record = record
        self.repeats += 1
        if seqs:
            self.first_seq = min([*seqs, *([self.first_seq] if self.first_seq is not None else [])])
            self.last_seq = max([*seqs, *([self.last_seq] if self.last_seq is not None else [])])
        self.refresh(layout=True)

    @property
    def cause_id(self) -> str | None:
        top = self.record.top
        return top.id if top is not None else None

    def card_text(self) -> str:
        return format_record(self.record)

    def render(self) -> Content:
        # Wrapped lines keep their indentation: evidence under "│ ", a fix under "  • ".
        width = self.content_region.width
        return wrap_content(self.content(), width) if width else self.content()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return wrap_content(self.content(), width).plain.count("\n") + 1

    def content(self) -> Content:
        """The card's text, unwrapped."""
        error = self.record.error
        top = self.record.top
        parts: list[str | tuple[str, str]] = []

        def add(text: str, style: str = "") -> None:
            text = safe(text)  # evidence lines come from the log
            parts.append((text, style) if style else text)

        stamp = time.strftime("%H:%M:%S", time.localtime(self.record.ts)) if self.record.ts else ""
        repeats = f" · {self.repeats} reports" if self.repeats > 1 else ""
        if top is None:
            add("● error not recognised\n", "bold $warning")
            add(f"{error.kind}{repeats} · {stamp}\n", "$text-muted")
        else:
            add("● ", "bold $error")
            add(f"{top.title}\n", "bold")
            add(f"{top.id} · {confidence_text(top.confidence)}{repeats} · {stamp}\n", "$text-muted")
        fixes = top.fixes if top is not None else ()
        # The card says each fix once, in its fix lines: not again in the summary or evidence.
        summary = without_fixes(error.summary, fixes)
        summary = summary if len(summary) <= MAX_SUMMARY else summary[: MAX_SUMMARY - 1] + "…"
        add(f"{summary}\n", "$text-muted italic")
        if top is None:
            add("no known cause: the log holds the full text (g shows it)", "$text-muted")
            return Content.assemble(*parts)
        if not self.expanded:
            if top.fixes:
                add("fix: ", "bold $success")
                add(top.fixes[0] + "\n")
            add("⏎ details · c copy · g show in log", "$text-muted")
            return Content.assemble(*parts)
        add("why: ", "bold")
        add(f"{top.explanation}\n")
        if top.evidence:
            add("evidence:\n", "bold")
            for line in top.evidence[:MAX_EVIDENCE_SHOWN]:
                add(f"│ {without_fixes(line, fixes)}\n", "$text-muted")
        if top.facts:
            add("figures: ", "bold")
            add("; ".join(f"{k} {v}" for k, v in top.facts) + "\n")
        if self.record.facts:
            add("live facts then:\n", "bold")
            for fact in self.record.facts[:MAX_FACTS_SHOWN]:
                add(f"  {without_fixes(fact, fixes)}\n", "$text-muted")
        if top.fixes:
            add("fixes:\n", "bold $success")
            for fix in top.fixes:
                add(f"  • {fix}\n")
        others = error.causes[1:]
        if others:
            add("also possible: ", "bold")
            add(", ".join(f"{c.id} {confidence_text(c.confidence)}" for c in others) + "\n",
                "$text-muted")
        add("⏎ collapse · c copy · g show in log", "$text-muted")
        return Content.assemble(*parts)

    def action_toggle_expanded(self) -> None:
        self.expanded = not self.expanded

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.card_text())
        self.notify(f"copied the card: {self.cause_id or 'unrecognised error'}")

    def action_show_in_log(self) -> None:
        self.post_message(self.ShowInLog(self))

    def action_focus_card(self, step: int) -> None:
        parent = self.parent
        if parent is None:
            return
        cards = list(parent.query_children(CauseCard))
        index = cards.index(self) + step
        if 0 <= index < len(cards):
            cards[index].focus()
            cards[index].scroll_visible()
