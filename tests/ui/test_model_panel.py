"""The Model and Log tabs with the REAL engine process on the demo model (CPU).

The demo is built on the first load into this session's cache dir (tests/conftest.py), so
later tests reuse it. The sampler is the real Telemetry (psutil; no GPU here, so the default
device is cpu); the engine client is the real EngineClient made by the app's factory.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Static

from console.app import ConsoleApp
from console.core.levels import Levels
from console.core.session import LevelsSet
from console.core.termsafe import safe
from console.engines.local import EngineClient, OnMessage
from console.host.config import MIN_INTERVAL_S, Config
from console.host.telemetry import Telemetry
from tests.ui.conftest import wait_until
from tests.ui.shown import static_text
from widgets.confirm_screen import ConfirmScreen
from widgets.log_view import LogView
from widgets.model_panel import ModelPanel
from widgets.prompt_panel import PromptPanel
from widgets.tab_strip import TabStrip

ENGINE_S = 120.0  # generous deadlines: the engine imports torch (seconds on a busy 2-core box)


def make_engine_app(model: str | None = "demo", env: dict[str, str] | None = None,
                    config: Config | None = None) -> ConsoleApp:
    def factory(on_message: OnMessage) -> EngineClient:
        return EngineClient(on_message=on_message, env=env, use_queue=False)

    return ConsoleApp(config or Config(interval_s=MIN_INTERVAL_S), Telemetry(),
                      hostname="test-box", initial_model=model, engine_factory=factory,
                      cursor_blink=False)


def text_of(app: ConsoleApp, selector: str) -> str:
    return static_text(app.query_one(selector, Static))


def shows(app: ConsoleApp, selector: str, needle: str) -> Callable[[], bool]:
    return lambda: needle in text_of(app, selector)


def shows_allocator(app: ConsoleApp) -> Callable[[], bool]:
    """The live allocator row: the engine's RSS on the CPU (CI), the CUDA allocator's figures
    where the demo loaded on a GPU (the GPU host runs these tests with --real-nvml)."""
    return lambda: ("engine RSS" in text_of(app, "#allocator")
                    or "res-unalloc" in text_of(app, "#allocator"))


async def load_demo(app: ConsoleApp, pilot: Pilot[int]) -> None:
    await pilot.press("2")
    app.set_focus(None)  # keys go to the app, not into a text field
    await pilot.press("L")
    await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "loaded", ENGINE_S)


async def test_load_generate_gc_unload_the_demo() -> None:
    app = make_engine_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        app.set_focus(None)
        # The demo is selected; its pre-flight (or the note that it is built on first load).
        await wait_until(pilot, shows(app, "#preflight", "demo"), "the demo's pre-flight", 20)
        assert app.engine is None  # nothing started before the user loads
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "loaded", ENGINE_S)
        # No progress bar once nothing loads; the progress text keeps the load's figures.
        assert not app.query_one("#load-progress", ProgressBar).display
        assert "demo: random weights" in text_of(app, "#state-line")
        # The allocator row fills itself after a load (no key needed).
        await wait_until(pilot, shows_allocator(app), "allocator row", 30)
        assert "tensors " in text_of(app, "#progress-text")
        assert app.engine is not None and app.engine.pid is not None
        # The dashboard watches the engine process.
        assert app.engine.pid in app.sampler._watched  # type: ignore[attr-defined]
        # The pre-flight ran on the demo once it was built; estimate vs actual shows.
        await wait_until(pilot, shows(app, "#preflight", "fit"), "the demo pre-flight", 30)
        await wait_until(pilot, shows(app, "#compare", "estimate vs actual: weights"),
                         "estimate vs actual", 30)
        compare_line = text_of(app, "#compare")
        assert "after load" in compare_line and "%" in compare_line
        # The weights row compares the estimate with the engine's own parameter bytes.
        est = app.session.check.result.estimate  # type: ignore[union-attr]
        loaded = app.session.loaded
        assert loaded is not None and loaded.param_bytes is not None
        weights_row = app.session.comparison[0]
        assert weights_row.what == "weights"
        assert weights_row.estimated_bytes == est.weights.bytes
        assert weights_row.actual_bytes == loaded.param_bytes

        # Generate: tokens stream into the output pane, then TTFT and tok/s.
        prompt = app.query_one("#prompt", Input)
        prompt.focus()
        prompt.value = "hello"
        await pilot.press("enter")
        await wait_until(pilot, shows(app, "#gen-stats", "TTFT"), "generated", ENGINE_S)
        panel = app.query_one(PromptPanel)
        assert panel.output_text and app.session.generation.tokens > 0
        # The KV cache row: bytes per token of the estimate x the tokens, vs the engine's.
        assert "KV cache (" in text_of(app, "#compare")
        assert text_of(app, "#output") == safe(panel.output_text)  # controls shown, not sent
        assert "tok/s" in text_of(app, "#gen-stats") and "KV cache" in text_of(app, "#gen-stats")

        app.set_focus(None)
        await pilot.press("G")
        await wait_until(pilot, shows(app, "#results", "gc (collected"), "gc result", 30)
        assert "before" in text_of(app, "#results") and "after" in text_of(app, "#results")
        # The buttons run the same actions as the keys (a click, not a key, here).
        await pilot.click("#btn-empty_cache")
        await wait_until(pilot, shows(app, "#results", "empty_cache: before"), "empty_cache", 30)
        await pilot.press("M")
        await wait_until(pilot, shows_allocator(app), "allocator row", 30)
        await pilot.press("U")
        await wait_until(pilot, shows(app, "#results", "freed"), "unloaded", ENGINE_S)
        assert "state: idle" in text_of(app, "#state-line")
        # Everything reached the log too.
        texts = app.query_one(LogView).pane.visible_texts()
        assert any("load started: demo" in t for t in texts)
        assert any("freed" in t for t in texts)


async def test_stop_key_stops_a_long_generation() -> None:
    app = make_engine_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await load_demo(app, pilot)
        app.query_one("#max-new-tokens", Input).value = "100000"
        prompt = app.query_one("#prompt", Input)
        prompt.focus()
        prompt.value = "go on"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.generation.tokens >= 3, "the first tokens",
                         ENGINE_S)
        await pilot.press("ctrl+s")
        await wait_until(pilot, shows(app, "#gen-stats", "stopped:"), "generated", 60)
        assert "stopped: stop" in text_of(app, "#gen-stats")
        assert app.session.generation.tokens < 100000


async def test_engine_killed_is_shown_and_x_restarts_it() -> None:
    app = make_engine_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await load_demo(app, pilot)
        assert app.engine is not None and app.engine.pid is not None
        assert not app.query_one("#btn-restart_engine").display
        os.kill(app.engine.pid, signal.SIGKILL)
        await wait_until(pilot, shows(app, "#state-line", "state: dead"), "death", 30)
        assert "SIGKILL" in text_of(app, "#state-line")
        assert app.query_one("#btn-restart_engine").display
        assert app.is_running
        await pilot.press("X")
        await wait_until(pilot, shows(app, "#state-line", "state: idle"), "restart", ENGINE_S)
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "reload", ENGINE_S)


@pytest.fixture(scope="module")
def truncated_demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny model whose one safetensors shard is cut in half."""
    from console.worker import tinymodels

    model = tinymodels.build("llama", tmp_path_factory.mktemp("broken") / "truncated")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return model


async def test_broken_model_shows_error_and_a_cause_card(truncated_demo_copy: Path) -> None:
    app = make_engine_app(model=None)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(LogView)
        await pilot.press("2")
        app.query_one(ModelPanel).set_model(str(truncated_demo_copy))
        app.set_focus(None)
        # The pre-flight already says it is broken, before any load.
        app.run_check(str(truncated_demo_copy))
        await wait_until(pilot, lambda: app.session.check is not None
                         and app.session.check.verdict == "broken", "pre-flight", 20)
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#results", "error"), "the load error", ENGINE_S)
        assert "PreflightFailed" in text_of(app, "#results")
        # LogView.CauseFound reached the app: a badge on the Log tab, a card in the Log tab.
        await wait_until(pilot, lambda: bool(app.query_one(TabStrip).badges), "the badge", 30)
        assert "(1!)" in " ".join(t for _, t in app.query_one(TabStrip).labels())
        assert view.cards[0].cause_id == "corrupt_checkpoint"
        await pilot.press("3")
        assert "log" not in app.query_one(TabStrip).badges  # seen
        assert app.query_one(TabStrip).badges.get("model") in (None, "✖ error")


async def test_a_model_given_by_path_shows_its_path(tmp_path: Path) -> None:
    """A directory path is the model's label; the state line shows it as text, whatever it
    holds (a path in brackets once read as a closing markup tag and killed the app)."""
    from console.worker import tinymodels

    model = tinymodels.build("llama", tmp_path / "models" / "[b]x[/b]" / "llama")
    app = make_engine_app(model=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        app.query_one(ModelPanel).set_model(str(model))
        await load_demo(app, pilot)
        assert f"[{model}]" in text_of(app, "#state-line")
        assert app.is_running


async def test_ram_pause_shows_why_and_forced_resume_finishes() -> None:
    app = make_engine_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        app.set_focus(None)
        app.fold(LevelsSet({"ram": Levels(warn=1.0, pause=1.0, abort=None, resume=0.5)}))
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#guard-state", "paused:"), "paused", ENGINE_S)
        assert "host RAM" in text_of(app, "#guard-state")
        assert "state: paused" in text_of(app, "#state-line")
        await pilot.press("R")  # refused: RAM is still over 1%; the app asks to force it
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm", 30)
        await pilot.press("y")  # forced: the load resumes (and pauses again at the next tensor)
        await wait_until(pilot, lambda: "resumed" in app.session.guard_events, "resumed", 30)
        # Raising the RAM pause level (as the user would) lets a plain resume finish the load.
        assert app.engine is not None
        app.engine.set_thresholds({"ram": {"pause": 100.0, "resume": 99.0}})
        await wait_until(pilot, lambda: app.session.levels["ram"].pause == 100.0, "levels", 30)
        await wait_until(pilot, lambda: app.session.guard_events[-1] == "paused", "paused again",
                         30)
        await pilot.press("R")
        await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "loaded", ENGINE_S)
        assert "ram 1/100" in text_of(app, "#guard-levels")


async def test_preload_gate_refuses_then_load_anyway_after_confirm() -> None:
    app = make_engine_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await load_demo(app, pilot)  # builds the demo so its pre-flight has headers to read
        await pilot.press("U")
        await wait_until(pilot, shows(app, "#results", "freed"), "unloaded", ENGINE_S)
        # 100,000 sequences of KV cache cannot fit in this machine's RAM: an honest no.
        app.query_one("#batch", Input).value = "100000"
        app.query_one("#context", Input).value = "512"
        app.run_check("demo")
        await wait_until(pilot, lambda: app.session.check is not None
                         and app.session.check.verdict == "will_not_fit", "verdict", 30)
        assert "WILL NOT FIT" in text_of(app, "#preflight")
        await pilot.press("L")
        assert "Load refused: will not fit" in text_of(app, "#results")
        assert "state: idle" in text_of(app, "#state-line")
        await pilot.press("F")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "forced load",
                         ENGINE_S)
        # Pre-flight once per load: the engine took the app's and re-checked free memory only.
        assert app.session.preflight is not None
        assert app.session.preflight["source"] == "app"
        assert app.session.preflight["forced"] is True


async def test_a_key_works_while_a_slow_load_runs() -> None:
    app = make_engine_app(env={"AUTOGLM_ENGINE_TEST_SLOW_LOAD_S": "0.2"})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#progress-text", "tensors"), "progress", ENGINE_S)
        await pilot.press("1")
        assert app.active_tab == "dashboard"
        assert app.engine is not None and app.engine.state == "loading"  # not finished yet
        await pilot.press("2")
        await pilot.press("A")  # abort: the slow load need not run to its end
        await wait_until(pilot, shows(app, "#guard-state", "aborted"), "aborted", 60)


async def test_model_tab_renders_at_80x24_and_160x48() -> None:
    """The first lines of the Model tab are on screen and inside the width; the prompt is
    reachable (scrolled into view at 80x24). No engine starts for this."""
    for size in ((80, 24), (160, 48)):
        app = make_engine_app()
        async with app.run_test(size=size) as pilot:
            await pilot.press("2")
            await pilot.pause()
            # At 80 columns the buttons are hidden (keys, footer and palette carry them).
            ids = ("#model-input", "#state-line", "#preflight") + (
                ("#btn-load",) if size[0] >= 120 else ())
            if size[0] < 120:
                assert not app.query_one("#btn-load").region.width
            for widget_id in ids:
                region = app.query_one(widget_id).region
                assert region.width > 0 and region.height > 0, (size, widget_id)
                assert region.right <= size[0], (size, widget_id)
            app.query_one("#prompt").focus()
            await pilot.pause()
            region = app.query_one("#prompt").region
            assert region.height > 0 and region.bottom <= size[1], (size, region)
            assert app.engine is None
