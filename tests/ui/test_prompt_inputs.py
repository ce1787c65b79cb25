"""The prompt panel's number fields: nan / inf / out of range never crash the app; they fall
back to the defaults (the engine's for top_p)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input

from widgets.prompt_panel import PromptPanel


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[PromptPanel.Submitted] = []

    def compose(self) -> ComposeResult:
        yield PromptPanel()

    def on_prompt_panel_submitted(self, message: PromptPanel.Submitted) -> None:
        self.sent.append(message)


@pytest.mark.parametrize(("tokens", "temperature", "top_p", "want"), [
    ("inf", "nan", "nan", (64, 0.0, None)),
    ("nan", "inf", "0", (64, 0.0, None)),
    ("-5", "-1", "1.5", (1, 0.0, None)),
    ("1e400", "-inf", "-0.2", (64, 0.0, None)),
    ("12", "0.7", "0.9", (12, 0.7, 0.9)),
])
async def test_bad_numbers_fall_back_instead_of_crashing(
        tokens: str, temperature: str, top_p: str, want: tuple[int, float, float | None]) -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.query_one("#max-new-tokens", Input).value = tokens
        app.query_one("#temperature", Input).value = temperature
        app.query_one("#top-p", Input).value = top_p
        prompt = app.query_one("#prompt", Input)
        prompt.focus()
        prompt.value = "hello"
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running
        [sent] = app.sent
        got = (sent.max_new_tokens, sent.temperature, sent.top_p)
        assert got == want
