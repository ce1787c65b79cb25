"""The doctor screen: rows with colours, details on Enter, `r` re-runs off the UI thread."""

from __future__ import annotations

import threading

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from console.core.doctor_judge import Check, Report
from tests.ui.conftest import wait_until
from tests.ui.shown import static_text
from widgets.doctor_screen import DoctorScreen

pytestmark = pytest.mark.anyio


def make_report(fail_detail: str = "CUDA_VISIBLE_DEVICES='7' leaves no GPU visible") -> Report:
    return Report((
        Check("python", "pass", "Python", "Python 3.11.7", {"version": "3.11.7"}),
        Check("torch", "warn", "PyTorch", "torch 2.13.0+cpu is a CPU-only build",
              {"version": "2.13.0+cpu", "cuda": None}, "install a CUDA build of torch"),
        Check("cuda_visible_devices", "fail", "CUDA_VISIBLE_DEVICES", fail_detail,
              {"value": "7", "nvml_gpu_count": 1}, "unset CUDA_VISIBLE_DEVICES"),
    ), elapsed_s=1.5)


class DoctorHost(App[None]):
    """A minimal app that only opens the doctor screen (no dependency on console.app)."""

    def __init__(self, screen: DoctorScreen) -> None:
        super().__init__()
        self.doctor = screen

    def on_mount(self) -> None:
        self.push_screen(self.doctor)


def text_of(screen: DoctorScreen, selector: str) -> str:
    return static_text(screen.query_one(selector, Static))


async def test_rows_colours_and_details() -> None:
    calls: list[int] = []

    def run_report() -> Report:
        calls.append(1)
        return make_report()

    screen = DoctorScreen(run_report)
    app = DoctorHost(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: screen.runs == 1, "the first report")
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        status_cells = [table.get_row_at(i)[0] for i in range(3)]
        # Failures first.
        assert [c.plain for c in status_cells] == ["FAIL", "WARN", "PASS"]
        assert [str(c.style) for c in status_cells] == ["bold red", "bold yellow", "bold green"]
        assert "1 passed, 1 warnings, 1 failed in 1.5 s" in text_of(screen, "#doctor-summary")
        # The details follow the cursor; Enter shows the facts and the fix.
        await pilot.press("enter")
        details = text_of(screen, "#doctor-details")
        assert "leaves no GPU visible" in details
        assert "fix: unset CUDA_VISIBLE_DEVICES" in details
        assert "nvml_gpu_count = 1" in details
        await pilot.press("down")
        assert "CPU-only build" in text_of(screen, "#doctor-details")
        assert calls == [1]


async def test_rerun_in_a_worker_does_not_block_the_ui() -> None:
    release = threading.Event()
    calls: list[int] = []

    def run_report() -> Report:
        calls.append(1)
        if len(calls) == 2:
            assert release.wait(10), "the test never released the second run"
            return make_report(fail_detail="second run")
        return make_report()

    screen = DoctorScreen(run_report)
    app = DoctorHost(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: screen.runs == 1, "the first report")
        await pilot.press("r")
        await wait_until(pilot, lambda: len(calls) == 2, "the second run to start")
        assert screen.running
        assert "running the checks" in text_of(screen, "#doctor-summary")
        # The UI still answers keys while the checks run in the thread.
        await pilot.press("down")
        assert screen.query_one(DataTable).cursor_row == 1
        await pilot.press("r")  # ignored while a run is in flight
        release.set()
        await wait_until(pilot, lambda: screen.runs == 2, "the second report")
        assert len(calls) == 2
        table = screen.query_one(DataTable)
        assert str(table.get_row_at(0)[2]) == "second run"
        assert table.cursor_row == 1  # the cursor stays where the user left it


async def test_a_failing_report_function_is_shown_not_raised() -> None:
    def run_report() -> Report:
        raise RuntimeError("probe exploded")

    screen = DoctorScreen(run_report)
    app = DoctorHost(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: not screen.running, "the failed run")
        assert "the checks could not run: RuntimeError: probe exploded" in text_of(
            screen, "#doctor-summary")
        assert app.screen is screen


async def test_not_applicable_rows_are_not_passes_and_verdicts_wrap_at_80x24() -> None:
    long = ("the driver sees 8 GPUs but CUDA_VISIBLE_DEVICES names index 9, which does not "
            "exist, so torch sees no GPU at all and every load falls back to the CPU")
    report = Report((
        Check("bf16", "pass", "bf16", "not applicable: no GPU", {"applicable": False}),
        Check("python", "pass", "Python", "Python 3.11.7"),
        Check("cuda_visible_devices", "fail", "CUDA_VISIBLE_DEVICES", long, {}, "unset it"),
    ))
    screen = DoctorScreen(lambda: report)
    app = DoctorHost(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.runs == 1, "the report")
        table = screen.query_one(DataTable)
        cells = [table.get_row_at(i) for i in range(3)]
        assert [c[0].plain for c in cells] == ["FAIL", "PASS", "N/A"]
        assert str(cells[2][0].style) == "dim"
        summary = text_of(screen, "#doctor-summary")
        assert "1 passed, 0 warnings, 1 failed, 1 not applicable" in summary
        # The long verdict wraps inside the screen: its row is several lines high, the
        # table needs no horizontal scrolling.
        first = table.ordered_rows[0]
        assert first.height > 1
        assert table.virtual_size.width <= table.size.width


async def test_escape_closes() -> None:
    screen = DoctorScreen(make_report)
    app = DoctorHost(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.runs == 1, "the first report")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is not screen, "the screen to close")
