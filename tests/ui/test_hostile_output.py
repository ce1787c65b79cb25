"""The TUI with a hostile model and an unlucky machine, real engine process:
- a tokenizer whose token is OSC 0 + OSC 52: the output pane shows it visibly, never raw;
- the session log's disk is full: the console says "session log off: disk full" once, the
  load finishes (no "loading 100%" forever) and U unloads (no crash)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from tests.hardening.helpers import tmpfs
from tests.ui.conftest import wait_until
from tests.ui.test_model_panel import ENGINE_S, make_engine_app, shows, text_of
from widgets.log_view import LogView
from widgets.model_panel import ModelPanel
from widgets.prompt_panel import PromptPanel

OSC = "\x1b]0;PWNED\x07\x1b]52;c;UFdORUQ=\x07"


async def test_escape_tokens_reach_the_output_pane_visibly(tmp_path: Path) -> None:
    from console.worker import tinymodels

    model = tinymodels.build("gpt2", tmp_path / "osc", extra_tokens=[OSC], always_emit=OSC)
    app = make_engine_app(model=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        app.query_one(ModelPanel).set_model(str(model))
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "loaded", ENGINE_S)
        prompt = app.query_one("#prompt", Input)
        prompt.focus()
        prompt.value = "hello"
        await pilot.press("enter")
        await wait_until(pilot, shows(app, "#gen-stats", "TTFT"), "generated", ENGINE_S)
        assert OSC in app.query_one(PromptPanel).output_text  # the model did emit it
        shown = text_of(app, "#output")
        assert "\u241b]52;c;UFdORUQ=\u2407" in shown
        assert "\x1b" not in shown and "\x07" not in shown


async def test_full_log_disk_loads_says_so_once_and_unloads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with tmpfs("128k") as mnt:
        (mnt / "logs").mkdir()
        with (mnt / "filler").open("wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        monkeypatch.setenv("AUTOGLM_CONSOLE_LOG_DIR", str(mnt / "logs"))
        app = make_engine_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("2")
            app.set_focus(None)
            await pilot.press("L")
            await wait_until(pilot, shows(app, "#state-line", "state: loaded"), "loaded",
                             ENGINE_S)
            texts = app.query_one(LogView).pane.visible_texts()
            assert sum("session log off: disk full" in t for t in texts) == 1, texts
            await pilot.press("U")
            await wait_until(pilot, shows(app, "#results", "freed"), "unloaded", ENGINE_S)
            assert app.is_running
