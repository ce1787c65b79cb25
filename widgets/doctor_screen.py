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

from console.core.doctor_judge import Check, Report
from widgets.key_footer import KeyFooter

STATUS_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}


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

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "doctor"
            box.border_subtitle = "enter details · r run again · esc close"
            yield Static("running the checks…", id="doctor-summary")
            table: DataTable[str | Text] = DataTable(id="doctor-table", cursor_type="row",
                                                     zebra_stripes=True)
            table.add_columns("status", "check", "verdict")
            yield table
            with VerticalScroll(id="doctor-details-box"):
                yield Static("", id="doctor-details")
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
        for check in message.report.checks:
            status = Text(check.status.upper(), style=STATUS_STYLE[check.status])
            table.add_row(status, check.title, check.detail, key=check.id)
        s = message.report.summary
        took = f" in {s['elapsed_s']:.1f} s" if s.get("elapsed_s") is not None else ""
        summary = Text.assemble(
            (f"{s['pass']} passed", STATUS_STYLE["pass"]), ", ",
            (f"{s['warn']} warnings", STATUS_STYLE["warn"]), ", ",
            (f"{s['fail']} failed", STATUS_STYLE["fail"]), took,
        )
        self.query_one("#doctor-summary", Static).update(summary)
        if message.report.checks:
            table.move_cursor(row=min(max(row, 0), len(message.report.checks) - 1))
            self._show(message.report.checks[table.cursor_row])
        table.focus()

    def on_doctor_screen_report_failed(self, message: ReportFailed) -> None:
        self.running = False
        self.query_one("#doctor-summary", Static).update(
            Text(f"the checks could not run: {message.error}", style=STATUS_STYLE["fail"])
        )

    # ---- details

    def _check_at_cursor(self) -> Check | None:
        if self.report is None or not self.report.checks:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.report.checks[row] if 0 <= row < len(self.report.checks) else None

    def _show(self, check: Check) -> None:
        lines = [
            f"[{STATUS_STYLE[check.status]}]{check.status.upper()}[/] [b]{escape(check.title)}[/b]",
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
