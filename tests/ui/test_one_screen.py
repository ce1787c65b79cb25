"""Issue 13: one screen that shows the load it guards. Pilot tests through `ReplayEngine`
(recorded event streams, the real decoder and session) for the engine strip, keys from any
tab, focus, the palette and help, honest state, the safe exit, prestart and the explained
death. The real engine process runs in tests/ui/test_model_panel.py and tests/e2e."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from textual import events
from textual.command import CommandPalette
from textual.widgets import Input, ProgressBar, Static

from console.app import ConsoleApp
from console.core import protocol
from console.core.sample import ProcSample, Sample
from console.core.session import Check, CheckDone, Session
from console.engines.base import OnEvent
from console.engines.replay import HELLO, ReplayEngine
from tests.ui.conftest import make_app, wait_until
from tests.ui.fakes import MIB, cpu_only_sequence, h100_sequence
from tests.ui.test_engine_states import LOAD_OK, LOADING, PREFLIGHT, line, progress, shows
from widgets import messages
from widgets.confirm_screen import ConfirmScreen
from widgets.engine_box import MemoryLines
from widgets.engine_strip import EngineStrip
from widgets.key_footer import KeyFooter
from widgets.log_pane import LogPane
from widgets.tab_strip import TabStrip

PAUSED_BY_YOU = {"event": "paused", "resource": None, "value": None, "threshold": None,
                 "why": "paused by the user", "tensor_index": 1}
RESUMED = {"event": "resumed", "why": "resumed by the user"}
ABORTED_BY_YOU = {"event": "aborted", "resource": None, "value": None, "threshold": None,
                  "why": "aborted by the user"}
ABORT_REPLY = [ABORTED_BY_YOU, {"event": "error", "error_type": "LoadAborted",
                                "message": "load aborted", "traceback": ""},
               {"event": "state", "state": "idle"}]


class WatchingSampler:
    """Fixed samples plus, like the real telemetry, a row for each watched pid (the engine)."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = list(samples)
        self.calls = 0
        self.watched: set[int] = set()

    def watch(self, pid: int) -> None:
        self.watched.add(pid)

    def unwatch(self, pid: int) -> None:
        self.watched.discard(pid)

    def sample(self) -> Sample:
        base = self.samples[min(self.calls, len(self.samples) - 1)]
        self.calls += 1
        rows = tuple(ProcSample(pid, True, (200 + 10 * self.calls) * MIB, 12.0)
                     for pid in sorted(self.watched))
        return replace(base, watched=rows)


def replay(script: Mapping[str, Sequence[Mapping[str, Any]]], *, samples: Sequence[Sample] = (),
           **kwargs: Any) -> tuple[ConsoleApp, list[ReplayEngine], WatchingSampler]:
    made: list[ReplayEngine] = []

    def factory(on_event: OnEvent) -> ReplayEngine:
        engine = ReplayEngine({"memory_report": [], **script}, on_event)
        made.append(engine)
        return engine

    sampler = WatchingSampler(samples or cpu_only_sequence())
    app = make_app(sampler, initial_model="m", engine_factory=factory, cursor_blink=False,
                   **kwargs)
    return app, made, sampler


def strip(app: ConsoleApp) -> str:
    return app.query_one(EngineStrip).text


def footer(app: ConsoleApp) -> list[str]:
    return [f"{shown} {what}" for _, shown, what, _ in app.query_one(KeyFooter).keys]


def notices(app: ConsoleApp) -> list[str]:
    return [n.message for n in app._notifications]


def model_tab_label(app: ConsoleApp) -> str:
    return dict(app.query_one(TabStrip).labels())["model"]


# -- 1. the engine strip on every tab, engine keys from any tab -----------------------------

async def test_load_pause_resume_abort_from_the_dashboard() -> None:
    app, engines, _ = replay({"load": [LOADING, PREFLIGHT, progress(1)],
                              "pause": [PAUSED_BY_YOU], "resume": [RESUMED, progress(2)],
                              "abort": ABORT_REPLY})
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.active_tab == "dashboard"
        assert strip(app).startswith("● no engine")
        await pilot.press("L")
        await wait_until(pilot, lambda: "25%" in strip(app), "the load in the strip")
        assert "● loading m 25%" in strip(app)  # compact at 80 columns: no bytes, rate, ETA
        assert "A abort · P pause" in strip(app)
        assert "● 25%" in model_tab_label(app)
        assert footer(app)[:2] == ["A abort", "P pause"]
        await pilot.press("P")
        await wait_until(pilot, lambda: "paused by you" in strip(app), "paused in the strip")
        assert "R resumes" in strip(app) and footer(app)[:2] == ["R resume", "A abort"]
        assert "● paused" in model_tab_label(app)
        # Your own pause is neutral, not a warning; the ETA does not run while paused.
        assert not app.query_one("#guard-state").has_class("-warning")
        assert line(app, "progress-text") == "paused by you — R resumes, A aborts"
        await pilot.press("R")
        await wait_until(pilot, lambda: "50%" in strip(app), "resumed")
        await pilot.press("A")
        await wait_until(pilot, lambda: app.session.engine == "idle"
                         and app.session.guard_mode == "aborted", "aborted")
        assert app.active_tab == "dashboard"  # every key worked where the user was
        assert [c.NAME for c in engines[0].sent] == ["load", "pause", "resume", "abort"]
        assert "%" not in model_tab_label(app)
        assert line(app, "results") == "load of m aborted by you; L loads again"


async def test_the_strip_shows_the_engine_rss_with_a_sparkline() -> None:
    app, _, _ = replay({"load": LOAD_OK})
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "loaded")
        await wait_until(pilot, lambda: "RSS" in strip(app), "the engine's RSS", 10)
        text = strip(app)
        assert "● loaded m" in text and "i prompt · U unload · G gc" in text
        rss = text.split("RSS ", 1)[1]
        assert "MiB" in rss and any(ch in rss for ch in "▁▂▃▄▅▆▇█")


# -- 3. focus ---------------------------------------------------------------------------------

async def test_i_jumps_into_the_prompt_esc_leaves_and_the_log_takes_the_focus() -> None:
    app, _, _ = replay({"load": LOAD_OK})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "loaded")
        assert footer(app)[:3] == ["i prompt", "U unload", "G gc"]
        await pilot.press("i")
        await wait_until(pilot, lambda: app.focused is not None
                         and app.focused.id == "prompt", "the prompt focused")
        assert app.active_tab == "model"
        assert footer(app) == ["Enter generate", "ctrl+o image", "ctrl+s stop", "Esc leave"]
        await pilot.press("U")  # typed into the prompt, not an unload
        assert app.query_one("#prompt", Input).value == "U" and app.session.engine == "loaded"
        await pilot.press("escape")
        assert app.focused is None
        await pilot.press("3")
        await wait_until(pilot, lambda: isinstance(app.focused, LogPane), "the log focused")
        pane = app.query_one(LogPane)
        level = pane.min_level
        await pilot.press("l")  # the log's key works at once
        assert pane.min_level != level
        await pilot.press("L")  # L is Load everywhere, the log too: the model is loaded
        assert any("L: the engine is loaded" in n or "already" in n for n in notices(app)) or \
            app.session.engine == "loaded"


# -- 4. discoverable --------------------------------------------------------------------------

async def test_a_key_that_cannot_act_says_why_and_where() -> None:
    app, engines, _ = replay({})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.press("escape")  # out of the log pane: the app's keys
        app.set_focus(None)
        await pilot.press("s")
        assert "s works on the Dashboard (1)" in notices(app)
        await pilot.press("A")
        assert any(n.startswith("A: no load is running") for n in notices(app))
        await pilot.press("U")
        assert "U: no model is loaded" in notices(app)
        assert not engines  # nothing was started for keys that could not act


async def test_palette_finds_load_by_name_and_help_is_grouped() -> None:
    app, engines, _ = replay({"load": LOAD_OK})
    async with app.run_test(size=(80, 24)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Load (L)", "Abort load (A)", "Pause load (P)", "Resume load (R)",
                      "Unload (U)", "Hard unload (H)", "GC (G)", "Prompt (i)"):
            assert title in titles
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "palette")
        await pilot.press(*"load")
        palette = app.screen
        assert isinstance(palette, CommandPalette)

        def offered() -> list[str]:
            options = palette.query_one("CommandList").options  # type: ignore[attr-defined]
            return [str(option.prompt) for option in options]

        await wait_until(pilot, lambda: any("Load (L)" in o for o in offered()), "Load")
        assert "Load (L)" in offered()[0]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "loaded from palette")
        assert engines[0].sent[0].NAME == "load"
        rows = app.help_rows()
        headings = [keys for keys, what in rows if not what]
        assert headings[:3] == ["global (every tab)", "engine (every tab)", "dashboard (tab 1)"]
        assert any(h.startswith("log") for h in headings)
        assert any(h.startswith("cause card") for h in headings)


async def test_plus_and_minus_move_the_vram_pause_level_with_a_notice() -> None:
    app, _, _ = replay({})
    async with app.run_test(size=(80, 24)) as pilot:
        pause = app.session.levels["vram"].pause
        await pilot.press("minus")
        assert app.session.levels["vram"].pause == pause - 2
        assert app.session.levels["vram"].resume < pause - 2
        assert f"VRAM pause level lowered to {pause - 2:g}% (+ raises it)" in notices(app)
        await pilot.press("plus")
        await pilot.press("plus")
        assert app.session.levels["vram"].pause == min(100.0, pause + 2)


# -- 5. honest state --------------------------------------------------------------------------

async def test_f_asks_what_matches_the_verdict_and_empty_optional_fields_are_valid() -> None:
    app, _, _ = replay({})
    async with app.run_test(size=(120, 40)) as pilot:
        # The app's own pre-flight of "m" (no such model: "broken") runs in a worker; let it
        # finish first, or its late result replaces the verdict this test folds in.
        await wait_until(pilot, lambda: app.session.check is not None
                         and app.session.check.verdict == "broken", "the app's own pre-flight",
                         timeout_s=15.0)
        app.fold(CheckDone(Check("m", None, "pre-flight: fits", "fits",
                                 options=("auto", None, None, 1))))
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert isinstance(app.screen, ConfirmScreen)
        question = app.screen.question
        assert "says m fits" in question and "will not fit" not in question
        await pilot.press("n")
        app.fold(CheckDone(Check("m", None, "WILL NOT FIT", "will_not_fit",
                                 options=("auto", None, None, 1))))
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert isinstance(app.screen, ConfirmScreen)
        assert "will not fit" in app.screen.question
        await pilot.press("n")
        await pilot.press("2")
        for field in ("#context", "#batch", "#top-p"):
            widget = app.query_one(field, Input)
            widget.value = ""
            await pilot.pause()
            assert widget.is_valid, field
            assert not widget.has_class("-invalid"), field


async def test_no_progress_bar_when_nothing_loads_and_a_fresh_block_after_unload() -> None:
    unloaded = {"event": "unloaded", "freed_bytes": 4 * MIB, "seconds": 0.1, "held_bytes": 0,
                "held_by": {}, "message": "freed 4.0 MiB in 0.10 s"}
    app, _, _ = replay({"load": LOAD_OK, "unload": [
        {"event": "state", "state": "unloading"}, unloaded, {"event": "state", "state": "idle"}]})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        bar = app.query_one("#load-progress", ProgressBar)
        assert not bar.display
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "loaded")
        assert not bar.display
        await pilot.press("U")
        await wait_until(pilot, lambda: app.session.engine == "idle", "unloaded")
        assert not bar.display and line(app, "results") == "freed 4.0 MiB in 0.10 s"
        assert "loaded m" not in line(app, "results") and line(app, "progress-text") == ""


# -- 6. safe exit -----------------------------------------------------------------------------

async def test_q_asks_once_with_a_model_loaded_then_quits_and_stops_the_engine() -> None:
    app, engines, _ = replay({"load": LOAD_OK})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "loaded")
        await pilot.press("q")
        assert app.is_running and app.return_code is None
        assert any(n.startswith("q again quits and frees") for n in notices(app))
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    engines[0].drain()
    assert not engines[0].alive


async def test_q_quits_at_once_when_nothing_is_held() -> None:
    app, _, _ = replay({})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


# -- 7. prestart ------------------------------------------------------------------------------

async def test_prestart_starts_the_engine_when_the_console_opens() -> None:
    app, engines, sampler = replay({}, prestart=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.session.engine == "idle", "the engine up")
        assert len(engines) == 1 and engines[0].sent == []  # started, nothing asked of it
        assert engines[0].pid in sampler.watched
    app, engines, _ = replay({})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert engines == [] and app.session.engine == "stopped"


LATE_MESSAGES = {
    "pre-flight": lambda: messages.CheckDone("m", None, "pre-flight: checking m...", "unknown"),
    "bundle": lambda: messages.BundleWritten("/tmp/bundle.tar.gz"),
    "fingerprint": lambda: messages.FingerprintRecorded(None, "the engine went away"),
    "engine event": lambda: messages.EngineMessage(protocol.Exited(
        returncode=None, signal="SIGKILL", expected=False, last_lines=[])),
    # Textual moves the focus as it takes the screens down (a fresh-clone run of session 29:
    # the strip read the focused widget of a screen stack already empty).
    "focus": lambda: events.DescendantFocus(Static()),
    "blur": lambda: events.DescendantBlur(Static()),
}


@pytest.mark.parametrize("kind", sorted(LATE_MESSAGES))
async def test_a_threads_message_that_arrives_while_the_app_closes_is_dropped(kind: str) -> None:
    # A worker thread posts its result just as the app closes (CI: a pre-flight's CheckDone
    # after the pilot left): the panels it would show on are gone; the app closes cleanly.
    app, _, _ = replay({})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        close_all = app._close_all

        async def close_then_post() -> None:
            await close_all()  # the screens are gone; the app still reads its messages
            app.post_message(LATE_MESSAGES[kind]())
            await asyncio.sleep(0.1)

        app._close_all = close_then_post  # type: ignore[method-assign]
    assert app._exception is None


async def test_while_the_engine_starts_the_state_says_so_and_a_second_l_is_a_notice() -> None:
    # No hello yet: the engine is still importing torch.
    # The replay answers a command at once; the real engine reads it after its hello.
    app, engines, _ = replay({"start": [], "load": []}, prestart=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.session.engine == "starting", "starting")
        assert "● starting" in strip(app) and "importing torch" in strip(app)
        await pilot.press("L")
        assert app.session.load_pending
        await pilot.press("L")
        assert [c.NAME for c in engines[0].sent] == ["load"]
        assert any("already on its way (the engine is starting)" in n for n in notices(app))
        assert app.session.result is None or app.session.result.level != "error"
        # The hello comes: the queued load goes on.
        assert engines[0].on_event is not None
        for wire in ({**HELLO, "pid": 4242}, {"event": "state", "state": "idle"}):
            engines[0].on_event(protocol.to_event(protocol.validate(
                {"v": protocol.PROTOCOL_VERSION, "ts": 0.0, **wire})))
        await pilot.pause()
        assert app.session.engine == "idle" and app.session.load_pending


# -- 8. explained correctly -------------------------------------------------------------------

async def test_an_outside_sigkill_without_evidence_is_not_host_oom() -> None:
    app, engines, _ = replay({"load": [LOADING, progress(1)]})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loading", "loading")
        app._oom_before = {"/proc/vmstat oom_kill": 0}  # the counter will not move
        engines[0].die()
        await wait_until(pilot, lambda: app.session.engine == "dead", "dead")
        await pilot.pause(0.3)
        assert "killed by a signal from outside (SIGKILL)" in line(app, "results")
        assert not any(r.error.causes and r.error.causes[0].id == "host_oom"
                       for r in app.log_view.errors)


async def test_a_cpu_only_torch_on_a_box_with_a_driver_loads_on_the_cpu() -> None:
    cpu_torch = {**HELLO, "pid": 4242, "cuda_available": False, "cuda": None,
                 "torch": "2.13.0+cpu"}
    app, engines, _ = replay({"start": [cpu_torch, {"event": "state", "state": "idle"}],
                              "load": LOAD_OK}, samples=h100_sequence(), prestart=True)
    async with app.run_test(size=(160, 48)) as pilot:
        # The engine has said what its torch can do (a load before that leaves the device to
        # the engine: "auto", which a CPU-only torch resolves to the CPU itself).
        await wait_until(pilot, lambda: app.session.hello is not None, "the engine's hello")
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "loaded")
        load = engines[0].sent[0]
        assert isinstance(load, protocol.Load) and load.device == "cpu"
        await pilot.press("2")
        await wait_until(pilot, shows(app, "device-note", "cannot use the 1 GPU(s)"), "note")
        assert "torch 2.13.0+cpu (a CPU-only build)" in line(app, "device-note")


# -- 9. CPU-only ------------------------------------------------------------------------------

async def test_without_a_gpu_the_vram_part_is_one_line_and_the_engine_row_shows() -> None:
    app, _, _ = replay({"load": LOAD_OK})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("L")
        await wait_until(pilot, lambda: app.session.engine == "loaded", "loaded")
        await pilot.press("2")
        rss = app.query_one("#engine-rss", MemoryLines)
        vram = app.query_one("#engine-vram", MemoryLines)
        await wait_until(pilot, lambda: "CPU 12%" in rss.text(), "the engine's row", 10)
        assert vram.text().count("\n") == 0 and "no GPU" in vram.text()


# -- 2. the model view ------------------------------------------------------------------------

def test_wrapped_lines_keep_their_indentation() -> None:
    from console.core.wrap import wrap_keeping_indent

    text = ("check m\n    error: model-00002.safetensors: data_offsets end past the data region"
            " - the file is truncated: download it again\n  fit       fits")
    wrapped = wrap_keeping_indent(text, 40).splitlines()
    assert wrapped[0] == "check m" and wrapped[-1] == "  fit       fits"
    body = wrapped[1:-1]
    assert len(body) > 2 and body[0].startswith("    error:")
    assert all(line.startswith("      ") and len(line) <= 40 for line in body[1:])
    assert " ".join(w.strip() for w in body).split() == text.splitlines()[1].split()


def test_vram_bar_marks_the_estimate_and_the_guard_levels() -> None:
    """The engine's VRAM on the GPU's total, the estimate `▼` and pause `┃` / abort `│`."""
    from types import SimpleNamespace

    from console.core.levels import Levels
    from widgets.engine_box import marker_bar, vram_lines

    sample = replace(h100_sequence()[59], watched=(ProcSample(48213, True, 1024 * MIB, 5.0,
                                                              gpu_memory_bytes=20 * 1024 * MIB),))
    estimate = SimpleNamespace(peak_bytes=40 * 1024 * MIB)  # half of the 80 GiB
    session = Session(
        pid=48213, model="m",
        check=Check("m", SimpleNamespace(estimate=estimate), "fits", "fits"),
        levels={"vram": Levels(warn=80, pause=90, abort=95, resume=85)})
    bar_line, legend, *_ = vram_lines(session, sample, [sample], 66)
    assert len(bar_line) == 66 and bar_line.endswith(" 20.0 GiB / 80.0 GiB")
    bar = bar_line[5:5 + 41]
    assert bar[int(0.5 * 41)] == "▼" and bar[int(0.9 * 41)] == "┃" and bar[int(0.95 * 41)] == "│"
    assert bar[:int(0.25 * 41)] == "█" * int(0.25 * 41)  # a quarter used
    assert "▼ estimate 40.0 GiB" in legend
    assert marker_bar(0, 1, 10, [(0.0, "x")]) == "x" + "░" * 9


async def test_a_sample_before_the_engine_box_has_composed_is_skipped() -> None:
    """A sample can reach a box whose lines are not mounted yet (the panel rebuilt while the
    engine restarts): it waits for the next sample instead of failing the app."""
    from textual.app import App

    from widgets.engine_box import EngineBox

    class One(App[None]):
        pass

    app = One()
    async with app.run_test() as pilot:
        box = EngineBox()
        mounting = app.mount(box)  # not awaited: the box's lines are not composed yet
        assert not box.query("#device-note")
        box.show(Session(), None, [])
        await mounting
        box.show(Session(), None, [])  # composed: the same call fills the lines
        assert box.query_one("#guard-state").display
        await pilot.pause()


async def test_tokens_that_arrive_faster_than_the_screen_reads_them_are_shown_as_one() -> None:
    # A fast model on a busy machine: 2,000 tokens reach the app before its UI thread reads
    # one. They are posted as one message (a key pressed now does not wait behind 2,000), the
    # text is all of theirs in order, and the answer's end still comes after them.
    app, _, _ = replay({"load": LOAD_OK})
    async with app.run_test(size=(120, 40)) as pilot:
        posted: list[messages.EngineMessage] = []
        post = app.post_message

        def counting(message: Any) -> bool:
            if isinstance(message, messages.EngineMessage):
                posted.append(message)
            return post(message)

        app.post_message = counting  # type: ignore[method-assign]
        words = [f"w{i} " for i in range(2000)]
        for i, word in enumerate(words):  # on the UI thread: nothing is read meanwhile
            app._deliver_engine_message(protocol.make_event(
                protocol.Token, 7, text=word, token_ids=[i], index=i + 1))
        app._deliver_engine_message(protocol.make_event(
            protocol.Generated, 7, tokens=2000, ttft_s=0.01, tokens_per_s=900.0,
            kv_cache_bytes=None, stopped="length", text=""))
        assert len(posted) == 2 and posted[0].run is not None and len(posted[0].run) == 2000
        await wait_until(pilot, lambda: app.session.generation.done is not None, "the end")
        assert app.session.generation.text == "".join(words)
        assert app.session.generation.tokens == 2000
        # Tokens after another event start a run of their own: the order holds.
        app._deliver_engine_message(protocol.make_event(
            protocol.Token, 8, text="a", token_ids=[1], index=1))
        app._deliver_engine_message(protocol.make_event(protocol.Log, level="info",
                                                        message="between"))
        app._deliver_engine_message(protocol.make_event(
            protocol.Token, 8, text="b", token_ids=[2], index=2))
        assert [len(m.run) if m.run else 0 for m in posted[2:]] == [1, 0, 1]
        await wait_until(pilot, lambda: app.session.generation.text.endswith("ab"), "a, b")
