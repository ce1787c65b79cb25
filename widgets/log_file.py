"""Any log file, live, in the Log tab: the path prompt and the follower that feeds the log view.

    follower = LogFileFollower(log_view, path)   # mount it anywhere (it draws nothing)
    app.push_screen(OpenLogScreen(), callback)    # asks for a path; callback(path | None)

The follower opens the file with `console.host.logfollow.LogFile` (no index needed to start: the
last `backlog` lines are read straight from the end, so a 200 MB file shows at once), then polls
for appends on a thread worker and hands each complete line to the log view as engine output, so
the pane shows it and the diagnosis turns errors into cause cards as they arrive. Rotation and
truncation are followed and said in the pane. The pane keeps its bounded ring of lines; the file
itself is never read whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from console.core import protocol
from console.host.logfollow import LogFile, LogFileError
from console.host.paths import typed_file
from widgets.log_view import LogView

BACKLOG_LINES = 1000  # lines already in the file shown when it opens
POLL_S = 0.25


class LogFileFollower(Widget):
    """Feeds a log file's lines into a LogView; draws nothing."""

    DEFAULT_CSS = "LogFileFollower { display: none; }"

    def __init__(
        self,
        log_view: LogView,
        path: str | Path,
        *,
        backlog: int = BACKLOG_LINES,
        poll_s: float = POLL_S,
    ) -> None:
        super().__init__()
        self.log_view = log_view
        self.path = Path(path)
        self.backlog = backlog
        self.poll_s = poll_s
        self.problem: str | None = None  # one line when the file cannot be followed

    def on_mount(self) -> None:
        try:
            log = LogFile(self.path)
        except LogFileError as exc:
            self.problem = str(exc)
            self.log_view.add_event(f"cannot follow {exc}", "error")
            return
        self.log_view.add_event(f"following {self.path}")
        self._follow(log)

    def _follow_worker_lines(self, log: LogFile) -> None:
        log.seek_end()
        for line in log.tail_lines(self.backlog, end=log.read_offset):
            self.log_view.post_engine_message(_line(line))

    def _follow(self, log: LogFile) -> None:
        self.run_worker(
            lambda: self._poll(log),
            thread=True,
            exclusive=True,
            group="log-file",
            exit_on_error=False,
        )

    def _poll(self, log: LogFile) -> None:
        worker = get_current_worker()
        try:
            self._follow_worker_lines(log)
            while True:
                change = log.poll()
                if change.kind in ("rotated", "truncated"):
                    for line in change.old_lines:
                        self.log_view.post_engine_message(_line(line))
                    self.app.call_from_thread(
                        self.log_view.add_event,
                        f"{self.path}: {change.kind}, reading the new content from its start",
                        "warning",
                    )
                for line in change.lines:
                    self.log_view.post_engine_message(_line(line))
                if worker.cancelled_event.wait(self.poll_s):
                    break
        finally:
            log.close()


def _line(text: str) -> protocol.AnyEvent:
    """One line of the file as the typed event the log view takes for an engine's output."""
    return protocol.make_event(protocol.Output, text=text)


class OpenLogScreen(ModalScreen[str | None]):
    """Asks for the path of a log file to follow; Enter opens it, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="open_log.cancel")
    ]
    DEFAULT_CSS = """
    OpenLogScreen { align: center middle; }
    OpenLogScreen > Vertical { width: 80; height: auto; border: round $accent; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Follow a log file: its lines go to the Log tab, errors get cause cards.")
            yield Input(placeholder="path of a log file", id="open-log-path")
            yield Static("", id="open-log-problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path, problem = typed_file(event.value)
        if problem is not None:
            self.query_one("#open-log-problem", Static).update(Content(problem))  # text, not markup
        if path is not None:
            self.dismiss(str(path))

    def action_cancel(self) -> None:
        self.dismiss(None)
