"""The start-up guard of a served engine started from the TUI (issue 17): the same
ProcessWatch guard `serve` has. A real `transformers serve` on the demo model, the machine's
real host telemetry, and a RAM pause level this machine is always over: the guard stops the
server's process group (SIGSTOP, state T); A aborts it (every process gone); started again,
R is refused while RAM is still over the pause level, the confirm forces it (SIGCONT), the
server becomes ready, and U stops it with the memory shown returned. The GPU is the recorded
H100 (no GPU here), its CUDA process re-pointed at the server's leader, so the stop proof's
VRAM per PID of the group is what the screen shows."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psutil
from textual.widgets import Input

from console.core.levels import Levels
from console.host import procs
from console.host.config import DEFAULT_LEVELS, MIN_INTERVAL_S, Config
from console.host.telemetry import RecordedNvml, Telemetry
from tests.ui.conftest import make_app, wait_until
from tests.ui.test_engine_states import line
from tests.ui.test_served_selector import choose_engine
from widgets.confirm_screen import ConfirmScreen

START_S = 120.0
RECORDED_H100 = Path(__file__).parent.parent / "fixtures" / "nvml" / "h100_handmade.json"


def repoint(recording: dict[str, Any], pid: int) -> None:
    """The recording's CUDA process becomes `pid` (the server's leader)."""
    for answer in recording["calls"]["nvmlDeviceGetComputeRunningProcesses(gpu0)"]:
        for proc in answer["ok"]:
            proc["pid"] = pid


def states(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(psutil.Process(pid).status())
        except psutil.Error:
            continue
    return out


def group_of(app: object) -> list[int]:
    server = getattr(getattr(app, "engine", None), "server", None)
    group = server.watch.group if server is not None else None
    return group.members() if group is not None else []



def served_app(resource: str, levels: Levels) -> tuple[Any, Telemetry, dict[str, Any]]:
    """The app on the recorded H100, the demo model, guard `levels` for `resource`: (app, its
    telemetry, the recording, to re-point at the server once it runs)."""
    from console.worker import demo

    demo_dir = demo.ensure()
    thresholds = dict(DEFAULT_LEVELS)
    thresholds[resource] = levels
    config = Config(interval_s=MIN_INTERVAL_S, thresholds=thresholds)
    recording = json.loads(RECORDED_H100.read_text())
    telemetry = Telemetry(nvml=RecordedNvml(recording))
    app = make_app(telemetry, config, initial_model=str(demo_dir), cursor_blink=False)
    return app, telemetry, recording


async def serve_from_the_model_view(app: Any, pilot: Any) -> None:
    """Pick `tf serve` in the engine selector, a free port and this venv's transformers."""
    await choose_engine(app, pilot, 3)
    app.query_one("#port", Input).value = str(procs.free_port())
    app.query_one("#engine-cmd", Input).value = (
        f"{Path(sys.executable).parent / 'transformers'} serve")
    app.set_focus(None)

async def test_guard_pauses_a_tui_started_server_and_the_keys_abort_and_resume() -> None:
    levels = Levels(warn=0.5, pause=1.0, abort=None, resume=0.5)
    app, telemetry, recording = served_app("ram", levels)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await serve_from_the_model_view(app, pilot)
            await wait_until(pilot, lambda: app.sample is not None, "a sample")
            # 1. The guard pauses the start; A aborts it.
            await pilot.press("L")
            await wait_until(pilot, lambda: app.session.guard_mode == "paused",
                             "the guard's pause", timeout_s=30)
            assert app.session.engine == "loading" and not app.session.guard_by_user
            members = group_of(app)
            assert members and set(states(members)) == {psutil.STATUS_STOPPED}
            guard_line = app.session.guard_line
            assert guard_line is not None and "host RAM" in guard_line.text
            assert "it still holds RSS" in guard_line.text and "stopped)" in guard_line.text
            await pilot.press("A")
            await wait_until(pilot, lambda: app.session.engine == "stopped", "aborted",
                             timeout_s=30)
            assert app.session.guard_mode == "aborted" and app.session.guard_by_user
            assert states(members) in ([], [psutil.STATUS_ZOMBIE] * len(states(members)))
            # 2. Started again: paused again; R is refused while RAM is over the pause level,
            # the confirm forces it, and the server starts and serves.
            await pilot.press("L")
            await wait_until(pilot, lambda: app.session.guard_mode == "paused",
                             "paused again", timeout_s=30)
            members = group_of(app)
            assert set(states(members)) == {psutil.STATUS_STOPPED}
            assert app.engine is not None and app.engine.pid is not None
            repoint(recording, app.engine.pid)
            await pilot.press("R")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                             "the force question")
            screen = app.screen
            assert isinstance(screen, ConfirmScreen)
            assert "Resume refused: cannot resume: host RAM" in screen.question
            assert set(states(members)) == {psutil.STATUS_STOPPED}  # still stopped
            await pilot.press("y")
            await wait_until(pilot, lambda: app.session.guard_mode == "running", "resumed")
            assert psutil.STATUS_STOPPED not in states(members)
            assert app.session.guard_line is not None
            assert "forced past ram" in app.session.guard_line.text
            await wait_until(pilot, lambda: app.session.engine in ("loaded", "dead"),
                             "ready", timeout_s=START_S)
            assert app.session.engine == "loaded", line(app, "results")
            # ready: the guard no longer acts (it guards the start-up only)
            await pilot.pause(2.5)
            assert app.session.guard_mode == "running"
            assert psutil.STATUS_STOPPED not in states(members)
            await pilot.press("U")
            await wait_until(pilot, lambda: app.session.engine == "stopped", "stopped",
                             timeout_s=60)
            # the memory shown returned: the group's RSS and its VRAM (NVML, per PID)
            result = line(app, "results")
            assert result.endswith(" RSS and 15.9 GiB VRAM, now 0 B and 0 B"), result
            assert psutil.STATUS_STOPPED not in states(members) and not [
                s for s in states(members) if s != psutil.STATUS_ZOMBIE]
    finally:
        telemetry.close()


async def test_a_raised_vram_level_lets_r_resume_a_served_start() -> None:
    """The guard on the (recorded) GPU's VRAM: used 20% against a pause level of 10% pauses the
    start; R is refused; + raises the level live on the served engine's guard (2 points a
    press) until 22%, and then R resumes it without forcing, as for the in-process engine."""
    app, telemetry, _ = served_app("vram", Levels(warn=5.0, pause=10.0, abort=None, resume=8.0))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await serve_from_the_model_view(app, pilot)
            # the recording's second sample: 15.9 GiB of 79.6 GiB used (20%)
            await wait_until(pilot, lambda: app.sample is not None and app.sample.gpus[0]
                             .memory_used_bytes == 17034117120, "the loaded sample")
            await pilot.press("L")
            await wait_until(pilot, lambda: app.session.guard_mode == "paused",
                             "the guard's pause", timeout_s=30)
            guard_line = app.session.guard_line
            assert guard_line is not None and "GPU0 VRAM 20% > 10%" in guard_line.text
            members = group_of(app)
            assert set(states(members)) == {psutil.STATUS_STOPPED}
            await pilot.press("R")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                             "the refusal")
            await pilot.press("n")  # not forced
            await pilot.pause()
            assert app.session.guard_mode == "paused"
            assert set(states(members)) == {psutil.STATUS_STOPPED}
            for _ in range(6):
                await pilot.press("plus")
            await wait_until(pilot, lambda: app.session.levels["vram"].pause == 22.0,
                             "the raised level")
            engine = app.engine
            server = getattr(engine, "server", None)
            assert server is not None
            options = server.watch.guard_options
            assert options is not None and options.thresholds["vram"].pause == 22.0
            await pilot.press("R")
            await wait_until(pilot, lambda: app.session.guard_mode == "running", "resumed")
            assert not isinstance(app.screen, ConfirmScreen)
            assert app.session.guard_line is not None
            assert app.session.guard_line.text == "resumed: resumed by you (SIGCONT)"
            assert psutil.STATUS_STOPPED not in states(members)
            await wait_until(pilot, lambda: app.session.engine in ("loaded", "dead"),
                             "ready", timeout_s=START_S)
            assert app.session.engine == "loaded", line(app, "results")
            await pilot.press("U")
            await wait_until(pilot, lambda: app.session.engine == "stopped", "stopped",
                             timeout_s=60)
    finally:
        telemetry.close()
