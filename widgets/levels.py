"""Threshold levels as CSS classes: a widget at level "warn" carries the class `-warn`.

Levels come from `console.host.config.Levels.colour` ("ok" / "warn" / "critical" / "na"); the
classes let DEFAULT_CSS colour a widget and let tests read its level without parsing styles.
"""

from __future__ import annotations

from rich.style import Style
from textual.dom import DOMNode

LEVELS = ("ok", "warn", "critical", "na")


def set_level(node: DOMNode, level: str) -> None:
    """Give `node` exactly one of the classes -ok / -warn / -critical / -na (no-op if same)."""
    node.update_classes({f"-{name}": name == level for name in LEVELS}, animate=False)


def level_of(node: DOMNode) -> str | None:
    """The level class `node` carries, or None."""
    for name in LEVELS:
        if node.has_class(f"-{name}"):
            return name
    return None


class StyleCacheMixin:
    """Component rich styles computed once per style update, not on every render.

    `get_component_rich_style` walks the ancestors for background colours each call; a panel
    re-rendering every second with a dozen coloured cells would pay that dozens of times.
    The cache is dropped whenever Textual updates the widget's styles (theme or CSS change).
    """

    _component_style_cache: dict[str, Style]

    def component_style(self, name: str) -> Style:
        cache = self.__dict__.setdefault("_component_style_cache", {})
        style: Style | None = cache.get(name)
        if style is None:
            style = cache[name] = self.get_component_rich_style(name)  # type: ignore[attr-defined]
        return style

    def notify_style_update(self) -> None:
        self.__dict__.get("_component_style_cache", {}).clear()
        super().notify_style_update()  # type: ignore[misc]
