"""The log pane and its cause cards, driven by Pilot in a minimal app that mounts a LogView.

Lines, levels, progress bars, filters, following, bounded memory, copying, and cards: from
real fixture logs fed line by line, from an engine death, and from the real engine process
(tiny models broken in tmp) through the real EngineClient.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input

from console.core.diagnose import DiagnosisContext
from tests.paths import LOG_FIXTURES as LOGS
from tests.ui.conftest import wait_until
from widgets.cause_card import CauseCard
from widgets.log_pane import DEBUG, ERROR, INFO, WARNING, LogPane, detect_level
from widgets.log_view import LogView

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0  # 22:13:20 UTC (tests/ui/conftest.py pins TZ=UTC)


class LogHost(App[None]):
    """Only the log view; records the CauseFound messages that reach the app."""

    def __init__(self, **view_kwargs: Any) -> None:
        super().__init__()
        view_kwargs.setdefault("clock", lambda: T0)
        view_kwargs.setdefault("idle_flush_s", 0.1)
        self.log_view = LogView(**view_kwargs)
        self.causes_found: list[LogView.CauseFound] = []

    def compose(self) -> ComposeResult:
        yield self.log_view

    def on_log_view_cause_found(self, message: LogView.CauseFound) -> None:
        self.causes_found.append(message)


def output(text: str, *, cr: bool = False, ts: float | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"v": 1, "event": "output", "ts": T0 if ts is None else ts, "text": text}
    if cr:
        msg["cr"] = True
    return msg


async def settled(pilot: Any, view: LogView) -> None:
    """Wait for the diagnosis worker to handle everything queued so far, then for the UI to
    take what it posted (instead of sleeping and hoping)."""
    assert await asyncio.to_thread(view.diagnosis_mark().wait, 30), "diagnosis worker stuck"
    await pilot.pause()


def row_text(pane: LogPane, y: int) -> str:
    return pane.render_line(y).text[1:].rstrip()  # without the gutter column


def fixture_lines(name: str) -> list[str]:
    text = (LOGS / name).read_text(encoding="utf-8")
    assert not text.startswith("# synthesized"), "use a log the generator really triggered"
    return text.splitlines()


# -- lines -------------------------------------------------------------------------------------

async def test_lines_appear_timestamped_with_levels_and_colours() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        view.handle_engine_message(output("loading the model", ts=T0 + 1.5))
        view.handle_engine_message(output("UserWarning: TypedStorage is deprecated", ts=T0 + 2))
        view.handle_engine_message(output("RuntimeError: CUDA error: no kernel image", ts=T0 + 3))
        view.handle_engine_message(output("2024-05-01 10:00:00 DEBUG urllib3 connection",
                                          ts=T0 + 4))
        view.add_event("load started: demo", "info", ts=T0 + 5)
        await pilot.pause()
        pane = view.pane
        assert [row_text(pane, y) for y in range(5)] == [
            "22:13:21.500 loading the model",
            "22:13:22.000 UserWarning: TypedStorage is deprecated",
            "22:13:23.000 RuntimeError: CUDA error: no kernel image",
            "22:13:24.000 2024-05-01 10:00:00 DEBUG urllib3 connection",
            "22:13:25.000 » load started: demo",
        ]
        assert [e.level for e in pane.entries] == [INFO, WARNING, ERROR, DEBUG, INFO]
        # The level colours come from the theme: error and warning text differ from plain text.
        def text_colour(y: int) -> object:
            return pane.render_line(y)._segments[-2].style.color  # type: ignore[union-attr]
        colours = {text_colour(y) for y in range(3)}
        assert len(colours) == 3
        assert text_colour(2) == pane.get_component_rich_style("log-pane--error").color


def test_level_detection_reads_prefixes_first() -> None:
    assert detect_level("Traceback (most recent call last):") == ERROR
    assert detect_level("torch.OutOfMemoryError: CUDA out of memory.") == ERROR
    assert detect_level("Killed") == ERROR
    assert detect_level("E0101 12:00:00.000 1234 nccl.cc] failed") == ERROR
    assert detect_level("W0101 12:00:00 worker.py] slow") == WARNING
    deprecation = "/x/modeling_utils.py:123: FutureWarning: `torch_dtype` is deprecated"
    assert detect_level(deprecation) == WARNING
    assert detect_level("INFO: 0 errors found, ValueError: none") == INFO  # the prefix decides
    assert detect_level("WARNING: retrying after Error: timeout") == WARNING
    assert detect_level("Loading weights: 100%|██████████| 21/21") == INFO
    assert detect_level("missing_keys: []") == INFO


async def test_progress_bar_updates_collapse_to_their_last_state() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        clock = iter(range(100))

        def feed(text: str, cr: bool = False) -> None:
            view.handle_engine_message(output(text, cr=cr, ts=T0 + next(clock)))

        feed("start")
        for done in range(0, 21, 5):
            feed(f"Loading weights:  {done * 5:3d}%|#   | {done}/20", cr=True)
        # A warning printed while the bar runs stays; the bar's next update comes after it (the
        # bar's line above keeps its state at its own time): the log stays in time order.
        feed("UserWarning: something odd")
        feed("Loading weights: 100%|####| 20/20 [00:01<00:00]")
        feed("Fetching 2 files:  50%|##  | 1/2", cr=True)
        feed("Fetching 2 files: 100%|####| 2/2")
        # A carriage-return line that is not a tqdm bar is replaced by whatever comes next.
        feed("spinning |", cr=True)
        feed("spinning /", cr=True)
        feed("done")
        await pilot.pause()
        assert view.pane.visible_texts() == [
            "start",
            "Loading weights:  100%|#   | 20/20",
            "UserWarning: something odd",
            "Loading weights: 100%|####| 20/20 [00:01<00:00]",
            "Fetching 2 files: 100%|####| 2/2",
            "done",
        ]
        stamps = [e.ts for e in view.pane._entries]
        assert stamps == sorted(stamps)


# -- filters -----------------------------------------------------------------------------------

LEVEL_LINES = [
    "2024-05-01 10:00:00 DEBUG loading shard 1",
    "2024-05-01 10:00:01 INFO cuda device found",
    "2024-05-01 10:00:02 WARNING cuda is slow",
    "RuntimeError: CUDA error: out of memory",
    "plain line about tokenizers",
]


async def test_level_filter_cycles_with_l() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        for line in LEVEL_LINES:
            view.handle_engine_message(output(line))
        view.pane.focus()
        await pilot.pause()
        assert view.pane.visible_count == 5
        await pilot.press("l")  # INFO and above
        assert view.pane.visible_count == 4
        await pilot.press("l")  # WARNING and above
        assert view.pane.visible_texts() == LEVEL_LINES[2:4]
        await pilot.press("l")  # ERROR only
        await pilot.pause()
        assert view.pane.visible_texts() == [LEVEL_LINES[3]]
        assert "ERROR and above" in str(view.pane.border_title)
        assert row_text(view.pane, 0).endswith(LEVEL_LINES[3])
        await pilot.press("l")  # back to everything
        assert view.pane.visible_count == 5
        # `L` is Load on every tab: the log has no second meaning for it.
        await pilot.press("L")
        assert view.pane.visible_count == 5


async def test_text_filter_opens_with_slash_and_escape_clears_it() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        for line in LEVEL_LINES:
            view.handle_engine_message(output(line))
        view.pane.focus()
        await pilot.press("slash")
        field = view.query_one("#log-filter", Input)
        assert field.has_focus and field.display
        await pilot.press(*"CUDA")  # case-insensitive, filters as it is typed
        assert view.pane.visible_texts() == LEVEL_LINES[1:4]
        await pilot.press("enter")  # keeps the filter, back to the log
        assert view.pane.has_focus
        assert view.pane.visible_texts() == LEVEL_LINES[1:4]
        await pilot.pause()
        assert "filter “cuda”: 3 shown" in str(view.pane.border_title)
        # Text and level filters combine; lines that arrive later are filtered too.
        await pilot.press("l", "l")
        view.handle_engine_message(output("WARNING cuda again"))
        view.handle_engine_message(output("WARNING something else"))
        assert view.pane.visible_texts() == [*LEVEL_LINES[2:4], "WARNING cuda again"]
        await pilot.press("escape")
        assert not field.display and view.pane.filter_text == ""
        assert view.pane.visible_count == 4  # the level filter stays


# -- following ---------------------------------------------------------------------------------

async def test_follows_the_tail_until_scrolled_up_and_resumes_with_end() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        pane = view.pane
        for i in range(200):
            view.handle_engine_message(output(f"line {i}"))
        pane.focus()
        await pilot.pause()
        assert pane.following and pane.scroll_y == pane.max_scroll_y > 0
        await pilot.press("pageup")
        await pilot.pause()
        assert not pane.following
        assert pane.border_subtitle == "paused following — End to resume"
        held = pane.scroll_y
        for i in range(200, 250):
            view.handle_engine_message(output(f"line {i}"))
        await pilot.pause()
        assert pane.scroll_y == held < pane.max_scroll_y  # the view stays where the user put it
        await pilot.press("end")
        await pilot.pause()
        assert pane.following and pane.scroll_y == pane.max_scroll_y
        assert str(pane.border_subtitle).startswith("following")
        view.handle_engine_message(output("line 250"))
        await pilot.pause()
        assert pane.scroll_y == pane.max_scroll_y
        bottom = pane.scrollable_content_region.height - 1
        assert row_text(pane, bottom).endswith("line 250")


async def test_twenty_thousand_lines_stay_bounded() -> None:
    app = LogHost(max_lines=10_000)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        pane = view.pane
        for i in range(20_000):
            view.add_engine_output(f"line {i}")
        await pilot.pause()
        assert len(pane.entries) == 10_000
        assert pane.dropped == 10_000
        assert pane.entries[0].text == "line 10000" and pane.entries[-1].text == "line 19999"
        assert pane.visible_count == 10_000
        assert len(pane._visible) <= 10_000 + 1025  # the evicted prefix is dropped in batches
        assert "10,000 older in the session log" in str(pane.border_title)
        bottom = pane.scrollable_content_region.height - 1
        assert row_text(pane, bottom).endswith("line 19999")
        # Filtering still works over the ring.
        pane.set_filter("line 1999")
        assert pane.visible_texts() == [f"line 1999{d}" for d in range(10)]


# -- copy --------------------------------------------------------------------------------------

async def test_copy_a_selection_and_the_screen() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        for i in range(10):
            view.handle_engine_message(output(f"line {i}", ts=T0 + i))
        view.pane.focus()
        await pilot.press("v")  # starts at the bottom line on screen
        await pilot.press("up", "shift+up")
        assert [e.text for e in view.pane.selected_entries()] == ["line 7", "line 8", "line 9"]
        assert "3 selected" in view.pane.status_text
        await pilot.press("y")
        assert app.clipboard == "line 7\nline 8\nline 9"
        assert not view.pane.selecting
        await pilot.press("v", "up", "Y")  # with timestamps
        assert app.clipboard == "22:13:28.000 line 8\n22:13:29.000 line 9"
        await pilot.press("v", "escape")  # Escape cancels a selection...
        assert not view.pane.selecting
        await pilot.press("c")  # ...and without one, c copies the lines on screen
        assert app.clipboard == "\n".join(f"line {i}" for i in range(10))


# -- cards -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fixture", "cause_id"), [
    ("corrupt_checkpoint/truncated_safetensors.log", "corrupt_checkpoint"),
    ("missing_file/wrong_local_path.log", "missing_file"),
])
async def test_a_traceback_fed_line_by_line_makes_a_card(fixture: str, cause_id: str) -> None:
    app = LogHost()
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.log_view
        view.handle_engine_message(output("Loading the model"))
        lines = fixture_lines(fixture)
        for line in lines:
            view.handle_engine_message(output(line))
        await wait_until(pilot, lambda: bool(view.cards), "a cause card")
        card = view.cards[0]
        assert card.cause_id == cause_id
        assert [m.record.error.causes[0].id for m in app.causes_found] == [cause_id]
        assert view.errors[-1].top is not None and view.errors[-1].top.id == cause_id
        assert card.expanded
        rendered = str(card.render())
        assert cause_id in rendered and "fixes:" in rendered and "evidence:" in rendered
        # The error's lines carry the marker; the line before it does not.
        marked = [e.text for e in view.pane.entries if e.marked]
        assert marked[0] == lines[0] and "Loading the model" not in marked
        # Keyboard: Tab reaches the card; Enter collapses it, c copies it, g shows its lines.
        view.pane.focus()
        await pilot.press("tab")
        assert app.focused is card
        await pilot.press("enter")
        assert not card.expanded
        await pilot.press("c")
        assert "traceback: " in app.clipboard and f"[{cause_id}, confidence" in app.clipboard
        await pilot.press("g")
        assert view.pane.has_focus
        selected = [e.text for e in view.pane.selected_entries()]
        assert selected[0] == lines[0] and selected[-1] == lines[-1]


async def test_next_error_key_selects_each_error_block() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.log_view
        lines = fixture_lines("corrupt_checkpoint/truncated_safetensors.log")
        for block in range(2):
            view.handle_engine_message(output(f"attempt {block}"))
            for line in lines:
                view.handle_engine_message(output(line))
        view.pane.focus()
        await pilot.pause()  # the lines laid out (they wrap: more rows than the pane shows)
        await pilot.press("home", "n")
        assert [e.text for e in view.pane.selected_entries()] == lines
        await pilot.press("escape", "n")
        assert view.pane.selected_entries()[0].seq == len(lines) + 2
        assert [e.text for e in view.pane.selected_entries()] == lines


async def test_an_engine_killed_under_memory_pressure_gets_a_host_oom_card() -> None:
    context = DiagnosisContext(ram_used_fraction=0.97, swap_used_fraction=0.9)
    app = LogHost(context_provider=lambda: context)
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.log_view
        view.handle_engine_message(output("Loading weights:  40%|####      | 8/20", cr=True))
        view.handle_engine_message({"v": 1, "event": "exited", "ts": T0, "returncode": -9,
                                    "signal": "SIGKILL", "expected": False, "pid": 4242,
                                    "last_lines": []})
        await wait_until(pilot, lambda: bool(view.cards), "a cause card")
        card = view.cards[0]
        assert card.cause_id == "host_oom"
        assert "RAM 97% used, swap 90% used" in card.record.facts
        assert "engine ended: signal 9" in card.record.facts
        ended = "engine (pid 4242) ended: killed by SIGKILL, unexpectedly"
        assert ended in view.pane.visible_texts()
        assert view.pane.entries[-1].level == ERROR
        # A kill the console asked for (hard unload) is no error.
        view.handle_engine_message({"v": 1, "event": "exited", "ts": T0, "returncode": -9,
                                    "signal": "SIGKILL", "expected": True, "pid": 4243,
                                    "last_lines": []})
        view.flush_diagnosis()
        await settled(pilot, view)
        assert len(view.cards) == 1 and view.pane.entries[-1].level == INFO


async def test_engine_messages_posted_from_another_thread_arrive_in_order() -> None:
    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view

        def reader() -> None:  # what the engine client's reader thread does
            for i in range(500):
                view.post_engine_message(output(f"line {i}"))

        thread = threading.Thread(target=reader)
        thread.start()
        thread.join()
        await wait_until(pilot, lambda: view.pane.visible_count == 500, "500 lines")
        assert view.pane.visible_texts() == [f"line {i}" for i in range(500)]


# -- the real engine ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def broken_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Llama, and copies broken the ways a load really fails."""
    from console.worker import tinymodels

    root = tmp_path_factory.mktemp("log-pane-models")
    good = tinymodels.build("llama", root / "llama")
    size = root / "size_mismatch"
    shutil.copytree(good, size)
    config = json.loads((size / "config.json").read_text())
    config["intermediate_size"] *= 2  # the checkpoint's MLP weights no longer fit the model
    (size / "config.json").write_text(json.dumps(config))
    truncated = root / "truncated"
    shutil.copytree(good, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return {"good": good, "size_mismatch": size, "truncated": truncated,
            "missing": root / "not-there"}


async def test_real_engine_failures_make_cards_with_the_right_causes(
        broken_models: dict[str, Path]) -> None:
    """The real EngineClient and engine process; the view is wired as the app will wire it."""
    from console.engines.local import EngineClient
    from console.host.bundle import diagnose_session_log

    app = LogHost(idle_flush_s=0.3)
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.log_view
        client = EngineClient(on_message=view.post_engine_message)

        async def load(model: Path) -> None:
            client.load(str(model))
            await asyncio.to_thread(client.wait_for, ["loaded", "error"], timeout=120)

        try:
            client.start()
            await asyncio.to_thread(client.wait_for, "hello", timeout=120)
            await load(broken_models["good"])
            await load(broken_models["size_mismatch"])
            await wait_until(pilot, lambda: len(view.cards) == 1, "the size-mismatch card", 20)
            await load(broken_models["missing"])
            await wait_until(pilot, lambda: len(view.cards) == 2, "the missing-path card", 20)
            await load(broken_models["truncated"])
            await wait_until(pilot, lambda: len(view.cards) == 3, "the truncated-shard card", 20)
        finally:
            await asyncio.to_thread(client.close)
        await settled(pilot, view)
        # Newest first; the traceback and its load report made one card, not two.
        assert [c.cause_id for c in view.cards] == ["corrupt_checkpoint", "missing_file",
                                                    "size_mismatch"]
        assert view.cards[2].record.error.kind == "traceback"
        texts = view.pane.visible_texts()
        # The real "Loading weights" tqdm bar (carriage returns) left one line per load.
        bars = [t for t in texts if t.startswith("Loading weights:")]
        assert bars and all("100%" in t for t in bars)
        assert len(bars) == 2  # the good load and the size-mismatch load reached the weights
        # The session log the client wrote gives the same diagnosis, headless.
        assert client.log_path is not None
        from_log = [r.top.id for r in diagnose_session_log(client.log_path) if r.top is not None]
        assert from_log == ["size_mismatch", "missing_file", "corrupt_checkpoint"]


async def test_cards_stay_bounded_and_newest_first() -> None:
    app = LogHost(max_cards=3)
    async with app.run_test(size=(140, 40)) as pilot:
        view = app.log_view
        for i in range(5):
            # The same error each time, far enough apart in time to be separate incidents.
            for step in range(6):  # (the diagnosis joins repeats a few lines apart)
                view.handle_engine_message(output(f"attempt {i} step {step}", ts=T0 + 60 * i))
            view.handle_engine_message(output("Killed", ts=T0 + 60 * i + 1))
            view.flush_diagnosis()
            await wait_until(pilot, lambda i=i: len(view.errors) == i + 1, f"card {i + 1}")
        assert len(view.cards) == 3
        assert all(isinstance(c, CauseCard) for c in view.cards)
        assert [c.record.ts for c in view.cards] == [T0 + 241, T0 + 181, T0 + 121]


async def test_a_filter_with_brackets_is_shown_as_typed() -> None:
    # "[rank0]" is in every distributed log; as markup it vanished from the border, and "[/]"
    # raised a MarkupError.
    from textual.content import Content

    app = LogHost()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.log_view
        for line in ("[rank0]: RuntimeError: NCCL error", "[rank1]: ok", "[/] plain"):
            view.handle_engine_message(output(line))
        view.pane.focus()
        for text in ("[rank0]", "[/]"):
            await pilot.press("slash")
            view.query_one("#log-filter", Input).value = text
            await pilot.press("enter")
            await pilot.pause()
            assert view.pane.visible_count == 1
            title = Content.from_markup(str(view.pane.border_title)).plain
            assert f"filter “{text.lower()}”: 1 shown" in title, title
            await pilot.press("escape")
        assert app.is_running
