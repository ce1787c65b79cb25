"""Wrapped lines keep their indentation at 80x24 in every multi-line text area: the log pane
(a traceback frame's continuation rows stay under the frame), the cause cards, the doctor's
details, the model view's result and output blocks. One algorithm (console/core/wrap.py)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Static

from console.core.doctor_judge import Check, Report
from console.core.wrap import HANGING
from tests.ui.conftest import wait_until
from tests.ui.test_doctor_screen import DoctorHost
from tests.ui.test_engine_states import LOAD_OK, LOADING, replay_app, shows, start_load
from tests.ui.test_log_pane import T0, LogHost, output
from widgets.doctor_screen import DoctorScreen
from widgets.log_pane import PREFIX_CELLS, copy_text

pytestmark = pytest.mark.anyio

TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/srv/engine/loader.py", line 40, in load_the_checkpoint_with_every_option_set_at_once',
    "    model = AutoModelForCausalLM.from_pretrained(path, device_map='cuda:0', "
    "torch_dtype=dtype)",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a "
    "total capacity of 79.19 GiB of which 1.06 GiB is free.",
)


def indent_of(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


def rendered_rows(widget: Static) -> list[str]:
    return str(widget.render()).split("\n")


def continued(rows: list[str], start: str) -> list[str]:
    """The continuation rows of the row that starts with `start` (its next, more indented
    rows)."""
    first = next(i for i, row in enumerate(rows) if row.startswith(start))
    own = indent_of(rows[first])
    out = []
    for row in rows[first + 1:]:
        if indent_of(row) <= own or not row.strip():
            break
        out.append(row)
    return out


async def test_log_pane_rows_of_a_frame_stay_under_the_frame() -> None:
    app = LogHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.log_view
        for n, text in enumerate(TRACEBACK):
            view.handle_engine_message(output(text, ts=T0 + n))
        view.pane.focus()
        await pilot.pause()
        pane = view.pane
        assert pane.row_count > pane.visible_count == len(TRACEBACK)
        width = pane.scrollable_content_region.width
        pane.scroll_to(y=0, animate=False, force=True)
        await pilot.pause()
        rows = [pane.render_line(y).text[1:].rstrip() for y in range(pane.row_count)]
        assert all(len(row) < width for row in rows)  # nothing cut off, no sideways scrolling
        # Each entry's rows: the first has the time, the others start under its text, at its
        # own indentation plus two.
        for index, text in enumerate(TRACEBACK):
            first = pane.row_of(index)
            assert rows[first].startswith(f"22:13:2{index}.000 ")
            own = len(text) - len(text.lstrip(" "))
            for row in rows[first + 1: first + pane.rows_of(index)]:
                assert indent_of(row) == PREFIX_CELLS - 1 + own + HANGING, (row, text)
        assert pane.rows_of(1) > 1 and pane.rows_of(2) > 1 and pane.rows_of(3) > 1
        joined = [" ".join(r.strip() for r in rows[pane.row_of(i): pane.row_of(i)
                                                   + pane.rows_of(i)]) for i in range(4)]
        assert [j.split(" ", 1)[1].split() for j in joined] == [t.split() for t in TRACEBACK]
        # Copying takes the lines whole, not the rows.
        assert copy_text(pane.visible_entries()) == "\n".join(TRACEBACK)
        # n selects the error block; the selection covers entries, whatever their rows.
        await pilot.press("home", "n")
        assert [e.text for e in pane.selected_entries()] == list(TRACEBACK)
        await pilot.press("escape")
        # Wider: the same lines take fewer rows; the top line stays in view.
        await pilot.resize_terminal(200, 40)
        await pilot.pause()
        assert pane.rows_of(1) == 1 and pane.row_count < len(rows)


async def test_cause_card_rows_keep_their_indentation() -> None:
    app = LogHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.log_view
        for n, text in enumerate(TRACEBACK):
            view.handle_engine_message(output(text, ts=T0 + n))
        view.flush_diagnosis()
        await wait_until(pilot, lambda: bool(view.cards), "a card")
        card = view.cards[0]
        card.expanded = True
        await pilot.pause()
        width = card.content_region.width
        rows = card.render().plain.split("\n")
        assert all(len(row) <= width for row in rows)
        assert card.size.height == len(rows)  # the card is as tall as its wrapped rows
        # The summary (no indentation) continues two cells in; an evidence line under "│ ";
        # a fix under "  • " continues under its text.
        assert continued(rows, "torch.OutOfMemoryError") and all(
            indent_of(r) == HANGING for r in continued(rows, "torch.OutOfMemoryError"))
        evidence = next(r for r in rows if r.startswith("│ ") and len(r) > width - 10)
        assert all(indent_of(r) == HANGING for r in continued(rows, evidence))
        fixes = [r for r in rows if r.startswith("  • ")]
        long_fix = next(r for r in fixes if continued(rows, r))
        assert all(indent_of(r) == 2 + HANGING for r in continued(rows, long_fix))


async def test_doctor_details_rows_keep_their_indentation() -> None:
    fix = ("install a CUDA build of torch that matches the driver: pip install torch --index-url "
           "https://download.pytorch.org/whl/cu130, then run the doctor again")
    report = Report((Check("torch", "fail", "PyTorch", "torch 2.13.0+cpu is a CPU-only build "
                           "(no CUDA): models run on the CPU however large they are",
                           {"cuda_available": False, "build": "a very long build string " * 4},
                           fix),), elapsed_s=0.1)
    screen = DoctorScreen(lambda: report)
    app = DoctorHost(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.runs == 1, "the report")
        await pilot.pause()
        details = screen.query_one("#doctor-details", Static)
        rows = rendered_rows(details)
        width = details.content_region.width
        assert all(len(row) <= width for row in rows)
        # The verdict and the fix (no indentation) continue two cells in; a fact ("  key =
        # value") continues under its value.
        fix_at = next(i for i, r in enumerate(rows) if r.startswith("fix: "))
        fact_at = next(i for i, r in enumerate(rows) if r.startswith("  cuda_available = "))
        assert rows[1].startswith("torch 2.13.0+cpu") and indent_of(rows[2]) == HANGING
        assert fact_at - fix_at > 1
        assert all(indent_of(r) == HANGING for r in rows[fix_at + 1: fact_at])
        build = continued(rows, "  build = ")
        assert build and all(indent_of(r) == 2 + HANGING for r in build)


async def test_model_view_result_and_output_keep_their_indentation() -> None:
    message = ("model_type 'glm4v_moe' is not known to transformers 4.57.1: the checkpoint "
               "needs a newer release than the one installed in this environment")
    failed = [LOADING, {"event": "error", "error_type": "UnknownArchitecture",
                        "message": message, "hint": "pip install -U transformers",
                        "traceback": ""}, {"event": "state", "state": "error"}]
    code = ("def f():\n        return some_function_with_a_long_name(argument_one, argument_two,"
            " argument_three, argument_four)")
    tokens: list[dict[str, Any]] = [{"event": "token", "text": code, "token_ids": [1],
                                     "index": 1, "kv_cache_bytes": 1024}]
    generated = {"event": "generated", "tokens": 1, "ttft_s": 0.01, "tokens_per_s": 10.0,
                 "kv_cache_bytes": 1024, "stopped": "length", "text": code}
    app, _ = replay_app({"load": failed})
    async with app.run_test(size=(80, 24)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "results", "UnknownArchitecture"), "the error")
        await pilot.pause()
        results = app.query_one("#results", Static)
        rows = rendered_rows(results)
        assert len(rows) > 1 and rows[0].startswith("error UnknownArchitecture")
        assert all(indent_of(r) == HANGING for r in rows[1:])
        assert all(len(r) <= results.content_region.width for r in rows)
    app, _ = replay_app({"load": LOAD_OK, "generate": [
        {"event": "state", "state": "generating"}, *tokens, generated,
        {"event": "state", "state": "loaded"}]})
    async with app.run_test(size=(80, 24)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: loaded"), "loaded")
        prompt = app.query_one("#prompt")
        prompt.focus()
        prompt.value = "code"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, shows(app, "gen-stats", "tok/s"), "generated")
        await pilot.pause()
        out = app.query_one("#output", Static)
        rows = rendered_rows(out)
        assert rows[0] == "def f():" and rows[1].startswith("        return")
        assert len(rows) > 2 and all(indent_of(r) == 8 + HANGING for r in rows[2:])
