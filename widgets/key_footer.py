"""The footer: the keys the screen offers now, drawn as one line of text.

Textual's `Footer` makes one `FooterKey` widget per key and rebuilds them all (a recompose)
whenever the bindings change, which in this app is every tab switch. That cost ~10 ms of
compose and layout on the UI thread per switch on the dev box, and each switch leaked the old
keys: `data_bind` leaves every key's watcher on `Footer.compact` until `compact` changes, which
it never does. In a 100-press key-latency run on the H100 host (session 4) the app's full
garbage collections grew from 16 to 149 ms as the dead keys piled up.

This footer keeps nothing per key: it reads `screen.active_bindings` when the screen says its
bindings changed and repaints one line. Clicking a key presses it, as Textual's footer does.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual import events
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

GAP = " "  # between two keys
PALETTE_SEPARATOR = "▏"


class KeyFooter(Widget):
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        width: 1fr;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    ALLOW_SELECT = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # (key, display, description, enabled) of each key shown, then the palette's, if any.
        self.keys: tuple[tuple[str, str, str, bool], ...] = ()
        self.palette: tuple[str, str, str, bool] | None = None
        # Where each key was drawn last: (first cell, end cell, key, enabled), for clicks.
        self.spans: list[tuple[int, int, str, bool]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self._bindings_changed, self.screen)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        keys, palette = self.read_bindings()
        if (keys, palette) != (self.keys, self.palette):
            self.keys, self.palette = keys, palette
            self.refresh()

    def read_bindings(self) -> tuple[tuple[tuple[str, str, str, bool], ...],
                                     tuple[str, str, str, bool] | None]:
        """The keys to show: one per action (the first binding of it), in binding order, as
        Textual's footer shows them; the command palette's apart, for the right edge."""
        app = self.app
        palette_key = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        keys: list[tuple[str, str, str, bool]] = []
        seen: set[str] = set()
        palette = None
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            if key == palette_key:
                palette = (binding.key, app.get_key_display(binding), binding.description,
                           enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append((binding.key, app.get_key_display(binding), binding.description, enabled))
        return tuple(keys), palette

    def render(self) -> Content:
        width = self.size.width
        spans: list[tuple[int, int, str, bool]] = []
        parts: list[tuple[str, str] | str] = []
        x = 0
        for item in self.keys:
            item_parts = self._key_parts(item)
            parts.extend(item_parts)
            parts.append(GAP)
            end = x + sum(cell_len(text) for text, _ in item_parts)
            spans.append((x, end, item[0], item[3]))
            x = end + len(GAP)
        left = Content.assemble(*parts) if parts else Content("")
        room = width
        palette_span = None
        if self.palette is not None and width > 0:
            right = Content.assemble((PALETTE_SEPARATOR, "$footer-description-foreground 50%"),
                                     *self._key_parts(self.palette, pad_left=False))
            if right.cell_length < width:
                room = width - right.cell_length
                left = left[:room] if left.cell_length > room else left
                left = Content.assemble(left, " " * (room - left.cell_length), right)
                palette_span = (room + len(PALETTE_SEPARATOR), width, self.palette[0],
                                self.palette[3])
        # A key cut off at the right edge (or by the palette) keeps the part still drawn.
        self.spans = [(a, min(b, room), key, on) for a, b, key, on in spans if a < room]
        if palette_span is not None:
            self.spans.append(palette_span)
        return left

    @staticmethod
    def _key_parts(item: tuple[str, str, str, bool],
                   pad_left: bool = True) -> list[tuple[str, str]]:
        _key, display, description, enabled = item
        dim = "" if enabled else " dim"
        parts = [(f"{' ' if pad_left else ''}{display} ", f"bold $footer-key-foreground{dim}")]
        if description:
            parts.append((description, f"$footer-description-foreground{dim}"))
        return parts

    def on_click(self, event: events.Click) -> None:
        """A click on a key presses it; on a disabled one it rings the bell."""
        for start, end, key, enabled in self.spans:
            if start <= event.x < end:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return
