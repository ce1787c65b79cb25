"""What a Static shows, for assertions."""

from __future__ import annotations

from textual.widgets import Static

from widgets.wrapped import IndentedStatic


def static_text(widget: Static) -> str:
    """A wrapping text area: its text as given (the rows it wraps into are tested on their
    own); any other Static: what it renders."""
    return widget.raw if isinstance(widget, IndentedStatic) else str(widget.render())
