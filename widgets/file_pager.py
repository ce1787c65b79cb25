"""A whole log file, paged: any line of a file of any size, in bounded memory.

    app.push_screen(FilePagerScreen(path))    # w in the Log tab: the file followed there

The Log tab's pane keeps a bounded ring of the lines that arrive; this screen shows the whole
file. `console.host.logfollow.LogFile` indexes line starts in the background (8 bytes a line, as
Textualize's toolong does); until that index is complete the pager shows the file's last lines,
read straight from its end, so the first screen of a 200 MB file comes at once. Once indexed,
every line is reachable and read from the file on demand, a page of `PAGE_LINES` at a time, at
most `MAX_PAGES` pages kept: memory is the index plus a few pages, whatever the file's size.
Appends are followed (at the end of the file the view stays at the end), and so are rotation
and truncation. Line text is shown through `termsafe.safe_line`: escape sequences and control
characters in a log are shown, never emitted.

Keys: ↑↓ pgup pgdn Home End (and ←→ for long lines), `:` go to a line, `/` find text (Enter
finds it below; `n` / `N` then repeat it down / up; Esc clears it), `n` / `N` with no text the
next / previous error (a run of error lines counts once) with its likely causes under the file,
`d` the causes of the error at the line found last (or the top line), Esc back to the Log tab.
Searches run on a thread and read the file in 4 MiB blocks.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from pathlib import Path
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from console.core.diagnose import Cause, diagnose_lines
from console.core.diagnose.levels import ERROR, WARNING, text_level
from console.core.termsafe import safe_line
from console.host.logfollow import LogFile, LogFileError, folded_pattern

PAGE_LINES = 256  # lines read from the file at a time
MAX_PAGES = 24  # pages kept (LRU): at most 6,144 lines in memory
SHOW_CHARS = 4096  # a line's first characters shown (the rest: "…"); ← → scroll to them
TAIL_LINES = 2000  # shown, read from the file's end, until the index is complete
POLL_S = 0.25
# `d` (and an error found with n / N) diagnoses the lines around that line: the error with what
# led to it, read like any log (console.core.diagnose), at most DIAGNOSE_BEFORE + DIAGNOSE_AFTER.
DIAGNOSE_BEFORE = 40
DIAGNOSE_AFTER = 200
# Bytes that may start an error line; text_level confirms each candidate.
_ERROR_BYTES = re.compile(
    rb"Traceback|Error|ERROR|Exception|CRITICAL|FATAL|FAILED|Killed|Segmentation fault"
    rb"|core dumped|error:|fatal:|^[EF]\d{4} ",
    re.MULTILINE,
)


class FilePager(ScrollView, can_focus=True):
    """The file's lines with their numbers; reads pages from the file as they are shown."""

    DEFAULT_CSS = """
    FilePager {
        border: round $primary;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        background: $surface;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 1;
        & > .file-pager--number { color: $text-muted; }
        & > .file-pager--error { color: $error; }
        & > .file-pager--warning { color: $warning; }
        & > .file-pager--mark { background: $primary 45%; }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "file-pager--number", "file-pager--error", "file-pager--warning", "file-pager--mark",
    }

    def __init__(self, log: LogFile, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.logfile = log
        self.indexed = False  # the index is complete: every line is reachable
        self.line_count = 0  # lines shown: the tail's until indexed, then the file's
        self.mark: int | None = None  # a line found (shown highlighted)
        self._tail: list[str] = []
        self._pages: OrderedDict[int, list[tuple[str, int]]] = OrderedDict()
        self._widest = 0
        self._styles: dict[str, Style] | None = None

    # -- keys: no animation (an animated jump over a large file would read every page between)

    def action_scroll_home(self) -> None:
        self.scroll_to(y=0, animate=False, immediate=True)

    def action_scroll_end(self) -> None:
        self.scroll_end(animate=False, immediate=True)

    def action_page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        self.scroll_page_up(animate=False)

    # -- what is shown ---------------------------------------------------------------------

    def start(self) -> None:
        """First screen: the file's last lines, at once; the index builds in the background."""
        self.logfile.seek_end()
        self._tail = self.logfile.tail_lines(TAIL_LINES, end=self.logfile.read_offset)
        self._set_count(len(self._tail))
        self._to_end()
        # After the first screen is drawn: the indexing thread shares the interpreter.
        self.call_after_refresh(self.logfile.start_indexing)

    def sync(self) -> None:
        """Take the index's progress and appends: more lines, the end kept in view.

        Nothing is redrawn when nothing changed (it runs every POLL_S)."""
        at_end = self.scroll_y >= self.max_scroll_y
        if self.indexed and self.logfile.line_count == self.line_count:
            return
        if not self.indexed and not self.logfile.indexed.is_set():
            return
        if not self.indexed:
            self.indexed = True
            from_end = max(0, len(self._tail) - int(self.scroll_y))
            self._tail = []
            self._pages.clear()
            self._set_count(self.logfile.line_count)
            if not at_end:
                self.scroll_to(y=max(0, self.line_count - from_end), animate=False, immediate=True)
        else:
            last_page = (self.line_count - 1) // PAGE_LINES if self.line_count else 0
            self._pages.pop(last_page, None)  # it may have been read short
            self._set_count(self.logfile.line_count)
        if at_end:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def reset(self) -> None:
        """Truncated or rotated: the file starts again."""
        self.indexed = False
        self.mark = None
        self._pages.clear()
        self._tail = self.logfile.tail_lines(TAIL_LINES)
        self._set_count(len(self._tail))
        self._to_end()
        self.refresh()

    def _to_end(self) -> None:
        """At the end now and again once laid out (a first layout may come after this)."""
        self.scroll_end(animate=False, immediate=True)
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    def _set_count(self, count: int) -> None:
        self.line_count = count
        self.virtual_size = Size(self._gutter() + self._widest + 1, count)

    def _gutter(self) -> int:
        return len(f"{max(self.line_count, 1):,}") + 1 if self.indexed else 0

    def text(self, number: int) -> tuple[str, int]:
        """Line `number` (0-based) as shown, with its level."""
        if not self.indexed:
            raw = self._tail[number] if 0 <= number < len(self._tail) else ""
            return _shown(raw)
        page_no = number // PAGE_LINES
        page = self._pages.get(page_no)
        if page is None:
            page = [_shown(t) for t in self.logfile.lines(page_no * PAGE_LINES, PAGE_LINES)]
            self._pages[page_no] = page
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
            widest = max((cell_len(t) for t, _ in page), default=0)
            if widest > self._widest:
                self._widest = widest
                self.virtual_size = Size(self._gutter() + widest + 1, self.line_count)
        else:
            self._pages.move_to_end(page_no)
        index = number - page_no * PAGE_LINES
        return page[index] if index < len(page) else ("", 0)

    @property
    def pages_held(self) -> int:
        return len(self._pages)

    @property
    def top_line(self) -> int:
        return int(self.scroll_y)

    def shown_mark(self) -> int | None:
        """The line found last, while it is on screen (None once scrolled away)."""
        top = self.top_line
        mark = self.mark
        return mark if mark is not None and top <= mark < top + self.size.height else None

    def go_to(self, number: int) -> None:
        """Show line `number` (0-based) near the top, marked."""
        self.mark = number
        self.scroll_to(y=max(0, number - 2), animate=False, immediate=True)
        self.refresh()

    def _style_table(self) -> dict[str, Style]:
        if self._styles is None:
            base = self.rich_style
            self._styles = {"base": base}
            for name in self.COMPONENT_CLASSES:
                self._styles[name.removeprefix("file-pager--")] = (
                    base + self.get_component_rich_style(name))
        return self._styles

    def notify_style_update(self) -> None:
        self._styles = None
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        number = scroll_y + y
        width = self.scrollable_content_region.width
        styles = self._style_table()
        if not 0 <= number < self.line_count:
            return Strip.blank(width, styles["base"])
        text, level = self.text(number)
        style = (styles["error"] if level >= ERROR else styles["warning"] if level >= WARNING
                 else styles["base"])
        if number == self.mark:
            style = style + styles["mark"]
        gutter = self._gutter()
        body = Strip([Segment(text, style)]).crop_extend(  # cells: CJK characters take two
            scroll_x, scroll_x + max(0, width - gutter), style)
        if not gutter:
            return body
        head = Segment(f"{number + 1:>{gutter - 1},} ", styles["number"])
        return Strip.join([Strip([head], gutter), body])


def _shown(raw: str) -> tuple[str, int]:
    """A file's line as the pager shows it: control characters visible, long lines cut."""
    text = safe_line(raw[:SHOW_CHARS])
    if len(raw) > SHOW_CHARS:
        text += "…"
    return text, text_level(text)


class FilePagerScreen(Screen[None]):
    """The whole of one log file, paged; Esc goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="pager.close"),
        Binding("colon", "ask('line')", "Go to line", id="pager.goto"),
        Binding("slash", "ask('find')", "Find", id="pager.find"),
        Binding("n", "next(1)", "Next", id="pager.next"),
        Binding("N", "next(-1)", "Previous", id="pager.previous"),
        Binding("d", "diagnose", "Diagnose here", id="pager.diagnose"),
    ]
    DEFAULT_CSS = """
    FilePagerScreen > Vertical { height: 1fr; }
    FilePagerScreen FilePager { height: 1fr; }
    FilePagerScreen #pager-ask { display: none; height: 3; }
    FilePagerScreen #pager-ask.-shown { display: block; }
    FilePagerScreen #pager-status { height: 1; color: $text-muted; }
    FilePagerScreen #pager-causes {
        display: none; height: auto; max-height: 4; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    FilePagerScreen #pager-causes.-shown { display: block; }
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.problem: str | None = None
        self.find_text = ""
        self.status = ""
        self._asking = ""  # "line" | "find" while the field is shown
        self.causes: list[Cause] = []  # the last line diagnosed (`d`, or an error found)
        self.diagnosed_line: int | None = None
        self._log: LogFile | None = None
        self._titles: tuple[str, str] = ("", "")  # the pager's border title and subtitle

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="pager-status")
            try:
                self._log = LogFile(self.path)
            except LogFileError as exc:
                self.problem = str(exc)
                yield Static(Content(f"cannot page {exc}"), id="pager-problem")
            else:
                yield FilePager(self._log, id="pager")
            yield Static("", id="pager-causes")
            yield Input(id="pager-ask")

    @property
    def pager(self) -> FilePager:
        return self.query_one(FilePager)

    def on_mount(self) -> None:
        if self._log is None:
            return
        self.pager.start()
        self.pager.focus()
        self._say("")
        self._poll(self._log)
        self.set_interval(POLL_S, self._tick)

    def on_unmount(self) -> None:
        self.workers.cancel_all()
        if self._log is not None:
            self._log.close()

    @work(thread=True, exclusive=True, group="pager-poll", exit_on_error=False)
    def _poll(self, log: LogFile) -> None:
        """Appends extend the index (LogFile.poll); truncation and rotation start it again."""
        worker = get_current_worker()
        while not worker.cancelled_event.wait(POLL_S):
            change = log.poll()
            if change.kind in ("rotated", "truncated"):
                self.app.call_from_thread(self._restarted, change.kind)

    def _restarted(self, kind: str) -> None:
        self.pager.reset()
        self._say(f"the file was {kind}: showing it from its new content")

    def _tick(self) -> None:
        self.pager.sync()
        self._title()

    def _title(self) -> None:
        pager = self.pager
        if pager.indexed:
            top = pager.top_line + 1
            bottom = min(pager.line_count, pager.top_line + pager.scrollable_content_region.height)
            where = f"lines {top:,}-{bottom:,} of {pager.line_count:,}"
        else:
            size = max(self._log.size if self._log is not None else 0, 1)
            done = min(100, 100 * (self._log.indexed_bytes if self._log is not None else 0) // size)
            where = f"the last {pager.line_count:,} lines; indexing the file, {done}%"
        target = f"“{self.find_text}”" if self.find_text else "error"
        # Text, never markup ("[rank0]" in a find or a name); set only when changed: setting a
        # border title repaints the pager, and this runs every POLL_S.
        titles = (f"{where} · {self.path.name}",  # the position first: 80 columns
                  f": line · / find · n N {target} · d diagnose · Esc back")
        if titles != self._titles:
            self._titles = titles
            pager.border_title, pager.border_subtitle = (Content(t) for t in titles)

    def _say(self, text: str) -> None:
        """One line above the file: what the last key did, else the file's whole path."""
        self.status = text
        self.query_one("#pager-status", Static).update(Content(text or str(self.path)))

    # -- keys --------------------------------------------------------------------------------

    def action_close(self) -> None:
        """Esc: out of the field (in the find field it also clears the text), else back."""
        if self._asking:
            if self._asking == "find":
                self.query_one("#pager-ask", Input).value = ""
                if self.find_text:
                    self._say("find cleared: n / N go to errors")
            self._hide_field()
            return
        self.dismiss()

    def action_ask(self, what: str) -> None:
        if self.problem is not None:
            return
        if not self.pager.indexed:
            self._say("the file is still being indexed: a moment")
            return
        field = self.query_one("#pager-ask", Input)
        self._asking = what
        field.value = self.find_text if what == "find" else ""
        field.placeholder = ("line number, 1 to " f"{self.pager.line_count:,}" if what == "line"
                             else "text to find (Esc clears)")
        field.add_class("-shown")
        field.focus()

    def _hide_field(self) -> None:
        field = self.query_one("#pager-ask", Input)
        if self._asking == "find" and not field.value:
            self.find_text = ""
        self._asking = ""
        field.remove_class("-shown")
        if self.problem is None:
            self.pager.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        what = self._asking
        if what == "line":
            number = _line_number(value, self.pager.line_count)
            if number is None:
                self._say(f"line: type a number from 1 to {self.pager.line_count:,}")
                return
            self._hide_field()
            self.pager.go_to(number - 1)
            self._say(f"line {number:,}")
        elif what == "find":
            self.find_text = value
            self._hide_field()
            if value:
                self.action_next(1)
            else:
                self._say("find cleared: n / N go to errors")

    def action_next(self, direction: int) -> None:
        if self.problem is not None or self._asking:
            return
        if not self.pager.indexed:
            self._say("the file is still being indexed: a moment")
            return
        # From the line found last while it is on screen, else from the screen's top line.
        mark = self.pager.shown_mark()
        top = self.pager.top_line
        start = mark if mark is not None else (top - 1 if direction > 0 else top)
        what = f"“{self.find_text}”" if self.find_text else "an error"
        self._say(f"looking for {what} {'below' if direction > 0 else 'above'}…")
        self._find(self.find_text, start, direction < 0)

    @work(thread=True, exclusive=True, group="pager-find", exit_on_error=False)
    def _find(self, text: str, start: int, backward: bool) -> None:
        worker = get_current_worker()
        log = self.pager.logfile
        began = time.monotonic()
        if text:
            pattern = folded_pattern(text)
            found = log.find(pattern, start, backward=backward, fold_case=True,
                             cancelled=lambda: worker.is_cancelled)
        else:
            def starts_an_error(line_text: str, number: int) -> bool:
                if text_level(line_text) < ERROR:
                    return False
                before = log.lines(number - 1, 1) if number > 0 else []
                return not before or text_level(before[0]) < ERROR

            found = log.find(_ERROR_BYTES, start, backward=backward, confirm=starts_an_error,
                             cancelled=lambda: worker.is_cancelled)
        if worker.is_cancelled:
            return
        self.app.call_from_thread(self._found, text, found, backward, time.monotonic() - began)

    def _found(self, text: str, found: int | None, backward: bool, seconds: float) -> None:
        what = f"“{text}”" if text else "error"
        if found is None:
            self._say(f"no {what} {'above' if backward else 'below'} (searched in {seconds:.1f} s)")
            return
        self.pager.go_to(found)
        self._say(f"{what} at line {found + 1:,}")
        if not text:
            self._diagnose(found)

    def action_diagnose(self) -> None:
        """`d`: the causes of the error at the line found last (on screen), else the top line."""
        if self.problem is not None or self._asking or not self.pager.indexed:
            return
        mark = self.pager.shown_mark()
        self._diagnose(mark if mark is not None else self.pager.top_line)

    @work(thread=True, exclusive=True, group="pager-diagnose", exit_on_error=False)
    def _diagnose(self, number: int) -> None:
        first = max(0, number - DIAGNOSE_BEFORE)
        lines = self.pager.logfile.lines(first, number - first + DIAGNOSE_AFTER)
        causes = diagnose_lines(lines)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_causes, number, first, len(lines), causes)

    def _show_causes(self, number: int, first: int, count: int, causes: list[Cause]) -> None:
        self.causes = causes
        self.diagnosed_line = number
        where = f"lines {first + 1:,}-{first + count:,}"
        if not causes:
            rows = [f"line {number + 1:,}: no known cause in {where}"]
        else:
            rows = [f"line {number + 1:,}, {where}: the likely causes"]
            for rank, cause in enumerate(causes[:3], 1):
                lead = ", weak lead" if cause.lead else ""
                fix = f" · {cause.fixes[0]}" if cause.fixes else ""
                rows.append(f"{rank}. {cause.title} [{cause.id}, {cause.confidence:.2f}{lead}]"
                            f"{fix}")
        field = self.query_one("#pager-causes", Static)
        field.update(Content("\n".join(safe_line(r) for r in rows)))  # text, not markup
        field.add_class("-shown")


def _line_number(value: str, count: int) -> int | None:
    """The 1-based line typed ("12,345" too), or None when it is not one of the file's."""
    digits = value.replace(",", "").replace("_", "")
    if not digits.isdigit():
        return None
    number = int(digits)
    return number if 1 <= number <= count else None
