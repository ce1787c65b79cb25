"""The doctor screen: rows with colours, details on Enter, `r` re-runs off the UI thread."""

from __future__ import annotations

import threading

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from console.core.doctor_judge import Check, Report
from tests.ui.conftest import wait_until
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
    return str(screen.query_one(selector, Static).render())


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
        assert [c.plain for c in status_cells] == ["PASS", "WARN", "FAIL"]
        assert [str(c.style) for c in status_cells] == ["bold green", "bold yellow", "bold red"]
        assert "1 passed, 1 warnings, 1 failed in 1.5 s" in text_of(screen, "#doctor-summary")
        # The details follow the cursor; Enter shows the facts and the fix.
        await pilot.press("down", "down", "enter")
        details = text_of(screen, "#doctor-details")
        assert "leaves no GPU visible" in details
        assert "fix: unset CUDA_VISIBLE_DEVICES" in details
        assert "nvml_gpu_count = 1" in details
        await pilot.press("up")
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
        assert str(table.get_row_at(2)[2]) == "second run"
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


async def test_escape_closes() -> None:
    screen = DoctorScreen(make_report)
    app = DoctorHost(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.runs == 1, "the first report")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is not screen, "the screen to close")
