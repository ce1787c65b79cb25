"""The doctor report in the TUI: one row per check; Enter shows its facts and fix.

Self-contained: the constructor takes the callable that builds the report (the app passes
`console.host.doctor.run_doctor`, tests a fake). The callable blocks (it runs the torch probe in
a subprocess), so it runs in a thread worker; the worker only posts messages, and the
handlers here own every widget change. `r` runs the checks again, Escape closes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from console.core.doctor_judge import Check, Report
from widgets.key_footer import KeyFooter
from widgets.wrapped import IndentedStatic

STATUS_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red", "n/a": "dim"}
STATUS_WIDTH = 6
TITLE_WIDTH_MAX = 24


class DoctorScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DoctorScreen { align: center middle; }
    DoctorScreen > Vertical {
        width: 95%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    DoctorScreen #doctor-summary { height: auto; padding: 0 0 1 0; }
    DoctorScreen DataTable { height: 1fr; min-height: 5; }
    DoctorScreen #doctor-details-box { height: 1fr; min-height: 5; border-top: solid $accent; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="doctor.close"),
        Binding("r", "rerun", "Run again", id="doctor.rerun"),
        Binding("enter", "details", "Details", id="doctor.details"),
    ]

    class ReportReady(Message):
        def __init__(self, report: Report) -> None:
            super().__init__()
            self.report = report

    class ReportFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, run_report: Callable[[], Report], *, id: str | None = "doctor") -> None:
        super().__init__(id=id)
        self._run_report = run_report
        self.report: Report | None = None
        self.running = False
        self.runs = 0  # reports received, for tests and the summary line
        self.rows: list[Check] = []  # the checks in the order shown

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "doctor"
            box.border_subtitle = "enter details · r run again · esc close"
            yield Static("running the checks…", id="doctor-summary")
            table: DataTable[str | Text] = DataTable(id="doctor-table", cursor_type="row",
                                                     zebra_stripes=True)
            table.add_column("status", key="status")
            table.add_column("check", key="check")
            table.add_column("verdict", key="verdict")
            yield table
            with VerticalScroll(id="doctor-details-box"):
                # Facts and fixes wrap under their own indentation at 80x24.
                yield IndentedStatic("", id="doctor-details", markup=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.action_rerun()

    # ---- running the checks (off the UI thread)

    def action_rerun(self) -> None:
        if self.running:
            return
        self.running = True
        self.query_one("#doctor-summary", Static).update("running the checks…")
        self._work()

    @work(thread=True, exclusive=True, group="doctor", exit_on_error=False)
    def _work(self) -> None:
        try:
            report = self._run_report()
        except Exception as exc:  # the report function's contract is to never raise
            self.post_message(self.ReportFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.ReportReady(report))

    def on_doctor_screen_report_ready(self, message: ReportReady) -> None:
        self.running = False
        self.runs += 1
        self.report = message.report
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        self.rows = message.report.ordered()  # failures first, N/A last
        # The verdict wraps in the room left (80x24 shows it whole, on several lines).
        title_width = min(TITLE_WIDTH_MAX, max((len(c.title) for c in self.rows), default=5))
        room = max(20, (table.size.width or self.app.size.width - 8) - STATUS_WIDTH
                   - title_width - 8)
        verdict = table.columns[ColumnKey("verdict")]
        verdict.width, verdict.auto_width = room, False
        for check in self.rows:
            shown = check.shown_status
            status = Text(shown.upper(), style=STATUS_STYLE[shown])
            table.add_row(status, Text(check.title, overflow="fold"),
                          Text(check.detail, overflow="fold"), key=check.id, height=None)
        s = message.report.summary
        took = f" in {s['elapsed_s']:.1f} s" if s.get("elapsed_s") is not None else ""
        na = s.get("not_applicable", 0)
        summary = Text.assemble(
            (f"{s['pass']} passed", STATUS_STYLE["pass"]), ", ",
            (f"{s['warn']} warnings", STATUS_STYLE["warn"]), ", ",
            (f"{s['fail']} failed", STATUS_STYLE["fail"]),
            (f", {na} not applicable", STATUS_STYLE["n/a"]) if na else "", took,
        )
        self.query_one("#doctor-summary", Static).update(summary)
        if self.rows:
            table.move_cursor(row=min(max(row, 0), len(self.rows) - 1))
            self._show(self.rows[table.cursor_row])
        table.focus()

    def on_doctor_screen_report_failed(self, message: ReportFailed) -> None:
        self.running = False
        self.query_one("#doctor-summary", Static).update(
            Text(f"the checks could not run: {message.error}", style=STATUS_STYLE["fail"])
        )

    # ---- details

    def _check_at_cursor(self) -> Check | None:
        if not self.rows:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def _show(self, check: Check) -> None:
        lines = [
            f"[{STATUS_STYLE[check.shown_status]}]{check.shown_status.upper()}[/] "
            f"[b]{escape(check.title)}[/b]",
            escape(check.detail),
        ]
        if check.fix:
            lines.append(f"[b]fix:[/b] {escape(check.fix)}")
        for key, value in check.facts.items():
            lines.append(f"  [dim]{escape(key)}[/dim] = {escape(json.dumps(value, default=str))}")
        self.query_one("#doctor-details", Static).update("\n".join(lines))

    def action_details(self) -> None:
        check = self._check_at_cursor()
        if check is not None:
            self._show(check)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.action_details()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def action_close(self) -> None:
        self.dismiss()
