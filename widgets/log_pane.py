"""The log pane: everything the engine prints and the console's own events, timestamped.

A line-API widget (`ScrollView.render_line`) over its own bounded ring of entries, so 10,000+
lines scroll and filter without re-rendering: only the rows on screen are drawn, and each row's
strip is cached by (entry, version, marks).

- Levels: detected from the text (Python tracebacks, exception lines, `ERROR`/`WARNING`/`DEBUG`
  logging prefixes, glog-style `E0101`, `*Warning:`), or given for the console's events. Colours
  from the theme: errors $error, warnings $warning, debug muted.
- Progress bars: an engine line that ended with a carriage return (`cr=True` from the engine
  client) is provisional; the next update of the same bar replaces it in place, so a bar shows
  its last state on one line (`add_output`). `add_line(replace_key=...)` does the same for any
  caller.
- Filters: `l` / `L` cycle the minimum level; `set_filter(text)` keeps lines containing the
  text (case-insensitive). The filter input itself lives in the log view (`/`).
- Following: the view follows the tail until the user scrolls up; the border then says "paused
  following — End to resume". Scrolling back to the bottom or End resumes.
- Copy: `v` starts a line selection at the bottom line on screen; ↑/↓ (or shift+↑/↓, PgUp/PgDn,
  Home/End) extend it; `y`, `c` or Enter copy the selected lines' text, `Y` with timestamps;
  Escape cancels. Without a selection, `y`/`c` copy the lines on screen. The app's
  `copy_to_clipboard` uses OSC 52, which terminals honour over SSH.
- `n` / `N`: the next / previous error line.
- Wrapping: a line longer than the pane wraps (`wrap=True`, the default); its continuation
  rows keep its own indentation plus two cells (console/core/wrap.py), so a traceback frame's
  long path stays under the frame. The pane keeps the first row of every visible entry
  (`_starts`), so scrolling, selecting and jumping still work by entries.
- Bounded: at most `max_lines` entries; older ones stay complete in the session log file the
  engine client writes.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.content import Content
from textual.events import Resize
from textual.geometry import Size
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.core.diagnose.levels import (
    DEBUG,
    ERROR,
    INFO,
    LEVEL_BY_NAME,
    LEVEL_NAMES,
    WARNING,
    level_value,
    line_level,
    text_level,
)
from console.core.diagnose.parser import LogParser
from console.core.termsafe import safe
from console.core.wrap import MIN_WIDTH, continuation_indent, wrap_ranges

# The one classifier lives in the core (console.core.diagnose.levels); these names stay here
# for the widgets that filter by level.
__all__ = ["DEBUG", "ERROR", "INFO", "LEVEL_BY_NAME", "LEVEL_NAMES", "WARNING", "LogEntry",
           "LogPane", "detect_level", "level_value"]
detect_level = text_level  # a line's level from its words alone (no traceback context)

MIN_LEVELS = (DEBUG, INFO, WARNING, ERROR)  # the order `l` cycles through

MAX_LINE_CHARS = 4000  # longer lines are cut on screen (the session log keeps them whole)
PREFIX_CELLS = 1 + 12 + 1  # gutter, "HH:MM:SS.mmm", space
CONSOLE_TAG = "» "

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# A tqdm bar: "<desc>: 42%|####      | 5/12 [...]" (desc optional).
_BAR_RE = re.compile(r"^(.*?)\s*\d{1,3}%\|")


def clean_text(text: str) -> str:
    """No ANSI escapes, tabs expanded, other control characters made visible, length capped."""
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    if "\t" in text:
        text = text.expandtabs(4)
    text = safe(_CONTROL_RE.sub("\ufffd", text))  # C1 controls and bidi overrides too
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + f"… ({len(text) - MAX_LINE_CHARS:,} more characters)"
    return text


def bar_label(text: str) -> str | None:
    """The description of a tqdm-style bar line ("" for a bar without one), else None."""
    m = _BAR_RE.match(text)
    return m.group(1).strip() if m is not None else None


def format_stamp(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


@dataclass(slots=True)
class LogEntry:
    seq: int  # position in the session, never reused
    ts: float
    stream: str  # "stdout" | "stderr" | "console"
    level: int
    text: str
    version: int = 0  # bumped when the entry changes (a progress bar's update)
    marked: bool = False  # part of a diagnosed error (a marker in the gutter)

    def line(self, with_time: bool = False) -> str:
        tag = CONSOLE_TAG if self.stream == "console" else ""
        return f"{format_stamp(self.ts)} {tag}{self.text}" if with_time else f"{tag}{self.text}"


class LogPane(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogPane {
        border: round $primary 50%;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        background: $surface;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 1;
        &:focus { border: round $primary; }
        &.-paused { border-subtitle-color: $warning; }
        & > .log-pane--time { color: $text-muted; }
        & > .log-pane--error { color: $error; }
        & > .log-pane--warning { color: $warning; }
        & > .log-pane--debug { color: $text-muted; text-style: dim; }
        & > .log-pane--console { color: $accent; text-style: bold; }
        & > .log-pane--marker { color: $error; }
        & > .log-pane--selected { background: $primary 35%; }
        & > .log-pane--cursor { background: $primary 65%; }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-pane--time", "log-pane--error", "log-pane--warning", "log-pane--debug",
        "log-pane--console", "log-pane--marker", "log-pane--selected", "log-pane--cursor",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "cycle_level(1)", "Level", id="log.level"),
        Binding("end", "follow", "Follow", id="log.follow"),
        Binding("v", "toggle_select", "Select", id="log.select"),
        Binding("y,c", "copy", "Copy", id="log.copy"),
        Binding("Y", "copy(True)", "Copy with time", show=False, id="log.copy_with_time"),
        Binding("enter", "copy_selection", "Copy selection", show=False, id="log.copy_enter"),
        Binding("escape", "cancel_select", "Cancel selection", show=False, id="log.cancel"),
        Binding("shift+up", "extend(-1)", "Extend up", show=False, id="log.extend_up"),
        Binding("shift+down", "extend(1)", "Extend down", show=False, id="log.extend_down"),
        Binding("n", "next_error(1)", "Next error", show=False, id="log.next_error"),
        Binding("N", "next_error(-1)", "Previous error", show=False, id="log.previous_error"),
    ]

    min_level: var[int] = var(DEBUG, init=False)
    following: var[bool] = var(True, init=False)

    def __init__(self, *, max_lines: int = 10_000, clock: Callable[[], float] = time.time,
                 wrap: bool = True, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.wrap = wrap
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        self.clock = clock
        self._entries: deque[LogEntry] = deque()
        self._visible: list[LogEntry] = []  # entries passing the filters, in order
        self._dead = 0  # leading entries of _visible already evicted from _entries
        # The row each entry of _visible starts at (one more item: the row after the last).
        # Absolute: the rows of the evicted prefix count, `_starts[_dead]` is row 0.
        self._starts: list[int] = [0]
        self._room = 0  # the cells a row's text has (0: not laid out yet, or not wrapping)
        self._next_seq = 0
        self._dropped = 0  # entries evicted from the ring
        self._filter_text = ""
        self._keys: dict[str, LogEntry] = {}  # replace_key -> its entry
        self._bars: dict[str, str] = {}  # open progress bar label -> its replace key
        self._parser = LogParser()  # the lines' roles (traceback or not), for their levels
        self._max_cells = 0
        self._sel_anchor: int | None = None  # seq numbers
        self._sel_cursor: int | None = None
        self._last_cursor: int | None = None  # where the last selection ended (for n / N)
        self._programmatic_scroll = False
        self._update_pending = False
        self._rows_removed_above = 0
        self._titles_pending = False
        self._styles: dict[str, Style] | None = None
        self._strip_cache: LRUCache[tuple[int, int, str, int], Strip] = LRUCache(2048)

    # ------------------------------------------------------------------ adding lines

    def add_line(self, text: str, *, stream: str = "stdout", ts: float | None = None,
                 level: str | int | None = None, replace_key: str | None = None) -> LogEntry:
        """Append a line (or, with `replace_key`, replace the line last added with that key,
        while it is still the newest line: the log stays in time order). The level is detected
        from the text unless given."""
        text = clean_text(text)
        when = self.clock() if ts is None else ts
        value = detect_level(text) if level is None else level_value(level)
        if replace_key is not None:
            entry = self._keys.get(replace_key)
            # In place only while it is the newest line: a bar updated under later lines
            # would carry a later time above them. Then the update is a new line (the old one
            # keeps the bar's state at its own time), so the log keeps time order.
            if entry is not None and self._entries and self._entries[-1] is entry:
                entry.text, entry.ts, entry.level = text, when, value
                entry.version += 1
                self._note_width(entry)
                if self._visible and self._visible[-1] is entry:
                    rows = self._rows(entry)
                    if rows != self._starts[-1] - self._starts[-2]:
                        self._starts[-1] = self._starts[-2] + rows
                        self._after_change()
                        return entry
                self._refresh_entry(entry)
                return entry
        entry = LogEntry(self._next_seq, when, stream, value, text)
        self._next_seq += 1
        if replace_key is not None:
            self._keys[replace_key] = entry
        self._append(entry)
        return entry

    def add_event(self, text: str, level: str | int = "info", *,
                  ts: float | None = None) -> LogEntry:
        """One of the console's own events (level "debug" | "info" | "warning" | "error")."""
        return self.add_line(text, stream="console", ts=ts, level=level_value(level))

    def add_output(self, text: str, *, cr: bool = False, ts: float | None = None,
                   stream: str = "stdout") -> LogEntry:
        """A raw line the engine printed. `cr`: it ended with a carriage return (a progress-bar
        update); the next update of the same bar replaces it, the bar's final line closes it."""
        label = bar_label(text)
        # Lines that are not tqdm bars share one slot: like a terminal, the next line replaces
        # a provisional one. A warning printed under a tqdm bar does not close that bar.
        key_label = label if label is not None else ("" if cr or "" in self._bars else None)
        if key_label is not None and (cr or key_label in self._bars):
            key = self._bars.get(key_label)
            if key is None:
                key = f"bar:{self._next_seq}"
                self._bars[key_label] = key
            entry = self.add_line(text, stream=stream, ts=ts, replace_key=key)
            if not cr:  # the bar's last line: closed
                del self._bars[key_label]
                self._keys.pop(key, None)
            return entry
        parsed, _ = self._parser.feed(text)
        return self.add_line(text, stream=stream, ts=ts, level=line_level(parsed, clean_text(text)))


    def _append(self, entry: LogEntry) -> None:
        evicted = 0
        if len(self._entries) >= self.max_lines:
            old = self._entries.popleft()
            self._dropped += 1
            if self._dead < len(self._visible) and self._visible[self._dead] is old:
                self._dead += 1
                evicted = self._starts[self._dead] - self._starts[self._dead - 1]
        self._entries.append(entry)
        self._note_width(entry)
        if self._matches(entry):
            self._visible.append(entry)
            self._starts.append(self._starts[-1] + self._rows(entry))
        if self._dead > 1024:  # drop the evicted prefix in one go
            del self._visible[: self._dead]
            del self._starts[: self._dead]
            self._dead = 0
        self._after_change(rows_removed_above=evicted)

    def _after_change(self, rows_removed_above: int = 0) -> None:
        """Size, scroll and redraw once per turn of the message loop, however many lines came:
        a burst of output costs one layout, not one per line."""
        self._rows_removed_above += rows_removed_above
        if self._update_pending:
            return
        self._update_pending = True
        if self.is_attached:
            self.call_later(self._apply_change)
        else:
            self._apply_change()

    def _apply_change(self) -> None:
        self._update_pending = False
        removed, self._rows_removed_above = self._rows_removed_above, 0
        self.virtual_size = Size(self._virtual_width(), self.row_count)
        if self.following:
            self._scroll_end()
        elif removed:
            # Keep the same lines on screen while older ones leave at the top.
            self._scroll_y_to(max(0, self.scroll_y - removed))
        self.refresh()
        self._schedule_titles()

    def _note_width(self, entry: LogEntry) -> None:
        cells = cell_len(entry.text)
        self._max_cells = max(self._max_cells, cells)

    # ------------------------------------------------------------------ rows (wrapping)

    def _wrap_room(self) -> int:
        """The cells a row's text has when wrapping (0: no wrapping). The scrollbar's column is
        always set aside, so the rows do not change when it comes and goes."""
        if not self.wrap:
            return 0
        room = self.content_region.width - self.styles.scrollbar_size_vertical - PREFIX_CELLS
        return room if room >= MIN_WIDTH + len(CONSOLE_TAG) else 0

    def _virtual_width(self) -> int:
        if self._room:
            return PREFIX_CELLS + self._room
        return PREFIX_CELLS + len(CONSOLE_TAG) + self._max_cells

    def _ranges(self, entry: LogEntry) -> list[tuple[int, int]]:
        """Where the entry's text breaks into rows at the current width."""
        tag = len(CONSOLE_TAG) if entry.stream == "console" else 0
        if not self._room or len(entry.text) + tag <= self._room:
            return [(0, len(entry.text))]
        return wrap_ranges(entry.text, self._room, first_width=self._room - tag)

    def _rows(self, entry: LogEntry) -> int:
        tag = len(CONSOLE_TAG) if entry.stream == "console" else 0
        if not self._room or len(entry.text) + tag <= self._room:
            return 1
        return len(self._ranges(entry))

    def _restart_rows(self) -> None:
        """Every visible entry's first row again (after a filter or width change)."""
        starts = [0] * (len(self._visible) + 1)
        row = 0
        for i, entry in enumerate(self._visible):
            starts[i] = row
            if i >= self._dead:
                row += self._rows(entry)
        starts[-1] = row
        self._starts = starts

    @property
    def row_count(self) -> int:
        """Rows the visible entries take on screen (more than entries when lines wrap)."""
        return self._starts[-1] - self._starts[self._dead]

    def row_of(self, index: int) -> int:
        """The first row of the visible entry at `index`."""
        return self._starts[self._dead + index] - self._starts[self._dead]

    def rows_of(self, index: int) -> int:
        return self._starts[self._dead + index + 1] - self._starts[self._dead + index]

    def index_at(self, row: int) -> int:
        """The visible entry that row `row` belongs to (clipped to the entries)."""
        if not self.visible_count:
            return 0
        base = self._starts[self._dead]
        found = bisect_right(self._starts, row + base, lo=self._dead,
                             hi=len(self._visible)) - 1 - self._dead
        return max(0, min(found, self.visible_count - 1))

    # ------------------------------------------------------------------ reading

    @property
    def entries(self) -> Sequence[LogEntry]:
        """Every entry in memory, oldest first (the ring)."""
        return tuple(self._entries)

    @property
    def next_seq(self) -> int:
        """The seq the next line will get."""
        return self._next_seq

    @property
    def visible_count(self) -> int:
        return len(self._visible) - self._dead

    def visible_entries(self) -> list[LogEntry]:
        """The entries that pass the filters, oldest first."""
        return self._visible[self._dead:]

    def visible_texts(self) -> list[str]:
        return [e.text for e in self.visible_entries()]

    @property
    def dropped(self) -> int:
        """Entries evicted from memory (still in the session log file)."""
        return self._dropped

    @property
    def filter_text(self) -> str:
        return self._filter_text

    @property
    def selecting(self) -> bool:
        return self._sel_anchor is not None

    def entry_index(self, seq: int) -> int:
        """The visible index of the entry with `seq`, or of the next one after it."""
        return bisect_left(self._visible, seq, lo=self._dead, key=lambda e: e.seq) - self._dead

    # ------------------------------------------------------------------ filters

    def _matches(self, entry: LogEntry) -> bool:
        if entry.level < self.min_level:
            return False
        return not self._filter_text or self._filter_text in entry.text.lower()

    def set_filter(self, text: str) -> None:
        """Keep only lines that contain `text` (case-insensitive); "" shows every line."""
        needle = text.lower()
        if needle != self._filter_text:
            self._filter_text = needle
            self._rebuild()

    def set_min_level(self, level: str | int) -> None:
        self.min_level = level_value(level)

    def watch_min_level(self) -> None:
        self._rebuild()

    def action_cycle_level(self, step: int = 1) -> None:
        index = MIN_LEVELS.index(self.min_level) if self.min_level in MIN_LEVELS else 0
        self.min_level = MIN_LEVELS[(index + step) % len(MIN_LEVELS)]

    def _rebuild(self) -> None:
        """Re-apply the filters; when paused, keep the line at the top of the screen in view."""
        top_seq = None
        if not self.following and self.visible_count:
            top_seq = self._visible[self._dead + self.index_at(int(self.scroll_y))].seq
        self._sel_anchor = self._sel_cursor = None
        self._visible = [e for e in self._entries if self._matches(e)]
        self._dead = 0
        self._restart_rows()
        self._strip_cache.clear()
        self._rows_removed_above = 0
        self.virtual_size = Size(self._virtual_width(), self.row_count)
        if self.following:
            self._scroll_end()
        elif top_seq is not None:
            self._scroll_y_to(self.row_of(min(self.entry_index(top_seq),
                                              max(0, self.visible_count - 1))))
        self.refresh()
        self._schedule_titles()

    # ------------------------------------------------------------------ following the tail

    def _scroll_y_to(self, y: float) -> None:
        """A scroll the pane makes itself: it does not change `following`. Forced: before the
        first layout after new lines the scrollbar may not be "shown" yet."""
        self._programmatic_scroll = True
        try:
            self.scroll_to(y=y, animate=False, force=True)
        finally:
            self._programmatic_scroll = False

    def _scroll_end(self) -> None:
        self._scroll_y_to(self.max_scroll_y)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._programmatic_scroll and round(old_value) != round(new_value):
            # The user moved: below the end means paused, back at the end means following.
            self.following = round(new_value) >= self.max_scroll_y

    def watch_following(self, following: bool) -> None:
        self.set_class(not following, "-paused")
        self._schedule_titles()

    def action_follow(self) -> None:
        """End: jump to the last line and follow the tail again (in a selection: extend to it)."""
        if self.selecting:
            self._move_cursor_to(self.visible_count - 1)
            return
        self.following = True
        self._scroll_end()

    def on_resize(self, event: Resize) -> None:
        room = self._wrap_room()
        if room != self._room:  # the lines wrap at another width: the same top line stays
            self._room = room
            self._rebuild_rows()
        if self.following:
            self._scroll_end()

    def _rebuild_rows(self) -> None:
        top_seq = None
        if not self.following and self.visible_count:
            top_seq = self._visible[self._dead + self.index_at(int(self.scroll_y))].seq
        self._restart_rows()
        self._strip_cache.clear()
        self.virtual_size = Size(self._virtual_width(), self.row_count)
        if top_seq is not None:
            self._scroll_y_to(self.row_of(self.entry_index(top_seq)))
        self.refresh()

    # ------------------------------------------------------------------ selection and copy

    def _bottom_row(self) -> int:
        """The visible index of the entry on the screen's last row."""
        height = max(1, self.scrollable_content_region.height)
        return self.index_at(min(int(self.scroll_y) + height - 1, max(0, self.row_count - 1)))

    def action_toggle_select(self) -> None:
        if self.selecting:
            self.action_cancel_select()
            return
        if not self.visible_count:
            return
        seq = self._visible[self._dead + self._bottom_row()].seq
        self.following = False
        self._sel_anchor = self._sel_cursor = seq
        self._selection_changed()

    def select_range(self, first_seq: int, last_seq: int) -> None:
        """Select the visible lines from `first_seq` to `last_seq` and bring them into view."""
        if not self.visible_count:
            return
        first = min(self.entry_index(first_seq), self.visible_count - 1)
        last = min(max(first, self.entry_index(last_seq + 1) - 1), self.visible_count - 1)
        self.following = False
        self._sel_anchor = self._visible[self._dead + first].seq
        self._sel_cursor = self._visible[self._dead + last].seq
        height = max(1, self.scrollable_content_region.height)
        self._scroll_y_to(max(0, self.row_of(first) - min(2, height // 4)))
        self._selection_changed()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape and Enter fall through to the parents (the log view) unless a selection is open.
        if action in ("cancel_select", "copy_selection"):
            return self.selecting
        return True

    def action_copy_selection(self) -> None:
        self.action_copy()

    def action_cancel_select(self) -> None:
        if self._sel_cursor is not None:
            self._last_cursor = self._sel_cursor
        self._sel_anchor = self._sel_cursor = None
        self._selection_changed()

    def _selection_bounds(self) -> tuple[int, int] | None:
        """Visible indices (first, last) of the selection."""
        if self._sel_anchor is None or self._sel_cursor is None or not self.visible_count:
            return None
        a, b = self.entry_index(self._sel_anchor), self.entry_index(self._sel_cursor)
        last = self.visible_count - 1
        return min(a, b, last), min(max(a, b), last)

    def _move_cursor_to(self, index: int) -> None:
        if self._sel_cursor is None or not self.visible_count:
            return
        index = max(0, min(index, self.visible_count - 1))
        self._sel_cursor = self._visible[self._dead + index].seq
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_y)
        first, last = self.row_of(index), self.row_of(index) + self.rows_of(index) - 1
        if first < top:
            self._scroll_y_to(first)
        elif last >= top + height:
            self._scroll_y_to(max(first, last - height + 1) if last - first < height else first)
        self._selection_changed()

    def _move_cursor(self, delta: int) -> None:
        if self._sel_cursor is not None:
            self._move_cursor_to(self.entry_index(self._sel_cursor) + delta)

    def action_extend(self, delta: int) -> None:
        if not self.selecting:
            self.action_toggle_select()
        self._move_cursor(delta)

    def action_scroll_up(self) -> None:
        if self.selecting:
            self._move_cursor(-1)
        else:
            super().action_scroll_up()

    def action_scroll_down(self) -> None:
        if self.selecting:
            self._move_cursor(1)
        else:
            super().action_scroll_down()

    def action_page_up(self) -> None:
        if self.selecting:
            self._move_cursor(-max(1, self.scrollable_content_region.height - 1))
        else:
            super().action_page_up()

    def action_page_down(self) -> None:
        if self.selecting:
            self._move_cursor(max(1, self.scrollable_content_region.height - 1))
        else:
            super().action_page_down()

    def action_scroll_home(self) -> None:
        if self.selecting:
            self._move_cursor_to(0)
        else:
            super().action_scroll_home()

    def selected_entries(self) -> list[LogEntry]:
        bounds = self._selection_bounds()
        if bounds is None:
            return []
        return self._visible[self._dead + bounds[0]: self._dead + bounds[1] + 1]

    def screen_entries(self) -> list[LogEntry]:
        if not self.visible_count:
            return []
        top = self.index_at(int(self.scroll_y))
        return self._visible[self._dead + top: self._dead + self._bottom_row() + 1]

    def action_copy(self, with_time: bool = False) -> None:
        """Copy the selection (or the lines on screen) and end the selection."""
        entries = self.selected_entries() if self.selecting else self.screen_entries()
        if not entries:
            self.notify("nothing to copy", severity="warning")
            return
        self.app.copy_to_clipboard(copy_text(entries, with_time))
        what = "selected" if self.selecting else "on screen"
        self.notify(f"copied {len(entries)} line{'s' if len(entries) != 1 else ''} {what}")
        if self.selecting:
            self.action_cancel_select()

    def _selection_changed(self) -> None:
        self._strip_cache.clear()
        self.refresh()
        self._schedule_titles()

    # ------------------------------------------------------------------ marks and jumps

    def mark(self, seqs: Iterable[int]) -> None:
        """Mark entries (by seq) as part of a diagnosed error: a bar in the gutter."""
        wanted = set(seqs)
        if not wanted or not self._entries:
            return
        first = self._entries[0].seq
        for seq in sorted(wanted):
            index = seq - first
            if 0 <= index < len(self._entries):
                entry = self._entries[index]
                if entry.seq == seq and not entry.marked:
                    entry.marked = True
                    entry.version += 1
        self.refresh()

    def action_next_error(self, step: int = 1) -> None:
        """Bring the next (step 1) or previous (-1) start of an error into view and select it."""
        visible = self.visible_entries()
        if not visible:
            return
        top, bottom = self.index_at(int(self.scroll_y)), self._bottom_row()
        last = self.entry_index(self._last_cursor) if self._last_cursor is not None else -1
        if self._sel_cursor is not None:
            start = self.entry_index(self._sel_cursor)
        elif top <= last <= bottom:  # the last selection is still on screen: go on from it
            start = last
        else:
            start = top - 1 if step > 0 else bottom + 1
        index = start + step
        while 0 <= index < len(visible):
            entry = visible[index]
            before = visible[index - 1] if index > 0 else None
            if entry.level >= ERROR and (before is None or before.level < ERROR):
                end = index
                while end + 1 < len(visible) and visible[end + 1].level >= ERROR:
                    end += 1
                self.select_range(entry.seq, visible[end].seq)
                return
            index += step
        self.notify("no more errors" if step > 0 else "no earlier errors")

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._strip_cache.clear()

    def _style_table(self) -> dict[str, Style]:
        if self._styles is None:
            base = self.rich_style
            self._styles = {"base": base}
            for name in self.COMPONENT_CLASSES:
                style = base + self.get_component_rich_style(name)
                self._styles[name.removeprefix("log-pane--")] = style
        return self._styles

    def _refresh_entry(self, entry: LogEntry) -> None:
        if not self._matches(entry):
            return
        index = self.entry_index(entry.seq)
        if 0 <= index < self.visible_count and self._visible[self._dead + index] is entry:
            self.refresh_lines(self.row_of(index), self.rows_of(index))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        styles = self._style_table()
        if not 0 <= row < self.row_count:
            return Strip.blank(width, styles["base"])
        index = self.index_at(row)
        sub = row - self.row_of(index)
        entry = self._visible[self._dead + index]
        state = ""
        bounds = self._selection_bounds()
        if bounds is not None and bounds[0] <= index <= bounds[1]:
            state = "cursor" if entry.seq == self._sel_cursor else "selected"
        key = (entry.seq, entry.version, state, sub)
        strip = self._strip_cache.get(key)
        if strip is None:
            strip = self._build_strip(entry, state, styles, sub)
            self._strip_cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, styles["base"])

    def _build_strip(self, entry: LogEntry, state: str, styles: dict[str, Style],
                     sub: int = 0) -> Strip:
        """Row `sub` of the entry: the first has the time (and the console's tag); the
        continuation rows of a wrapped line start under its text, at its indentation + 2."""
        text_style = {ERROR: styles["error"], WARNING: styles["warning"],
                      DEBUG: styles["debug"]}.get(entry.level, styles["base"])
        extra = styles[state] if state else None
        gutter = ("▌", styles["marker"]) if entry.marked else (" ", styles["base"])
        ranges = self._ranges(entry)
        start, end = ranges[min(sub, len(ranges) - 1)]
        text = entry.text[start:end] if len(ranges) > 1 else entry.text
        parts: list[tuple[str, Style]] = [gutter]
        if sub == 0:
            parts.append((format_stamp(entry.ts) + " ", styles["time"]))
            if entry.stream == "console":
                parts.append((CONSOLE_TAG, styles["console"]))
        else:
            pad = PREFIX_CELLS - 1 + continuation_indent(entry.text, self._room)
            parts.append((" " * pad, styles["base"]))
        parts.append((text, text_style))
        segments = [Segment(text, style + extra if extra is not None else style)
                    for text, style in parts]
        return Strip(segments, sum(cell_len(text) for text, _ in parts))

    # ------------------------------------------------------------------ the border

    def _schedule_titles(self) -> None:
        if not self._titles_pending and self.is_attached:
            self._titles_pending = True
            self.call_after_refresh(self._update_titles)

    def _update_titles(self) -> None:
        self._titles_pending = False
        parts = [f"log · {len(self._entries):,} lines"]
        if self.min_level > DEBUG:
            parts.append(f"{LEVEL_NAMES.get(self.min_level, self.min_level)} and above")
        if self._filter_text:
            parts.append(f"filter “{self._filter_text}”: {self.visible_count:,} shown")
        if self._dropped:
            parts.append(f"{self._dropped:,} older in the session log")
        self.border_title = Content(" · ".join(parts))  # text: a filter may hold "[rank0]"
        self.border_subtitle = self.status_text

    @property
    def status_text(self) -> str:
        if self.selecting:
            count = len(self.selected_entries())
            return f"{count} selected · ↑↓ extend · y copy · Y with time · esc cancel"
        if self.following:
            return "following · l level · / filter · v select · n next error"
        return "paused following — End to resume"


def copy_text(entries: Sequence[LogEntry], with_time: bool = False) -> str:
    return "\n".join(e.line(with_time) for e in entries)
