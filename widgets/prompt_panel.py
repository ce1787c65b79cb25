"""The prompt under the model panel: a prompt Input, max_new_tokens / temperature / top_p,
and the output pane tokens stream into, with TTFT, tokens/s and the KV cache's size.

Enter in the prompt posts `PromptPanel.Submitted` (the app sends `generate`); the app calls
`show_session(session)` on the UI thread: the output and the figures are the session's.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

from console.core.session import Generation, Session
from console.core.units import fmt_bytes


class PromptPanel(Vertical):
    DEFAULT_CSS = """
    PromptPanel { height: auto; border-top: solid $primary-darken-1; }
    PromptPanel Horizontal { height: auto; }
    PromptPanel #prompt { width: 1fr; }
    PromptPanel #max-new-tokens { width: 6; }
    PromptPanel #temperature, PromptPanel #top-p { width: 5; }
    PromptPanel #gen-stats { height: 1; color: $text-muted; }
    PromptPanel #output-scroll { height: auto; min-height: 3; max-height: 12; }
    PromptPanel #output { height: auto; }
    """

    class Submitted(Message):
        def __init__(self, prompt: str, max_new_tokens: int, temperature: float,
                     top_p: float | None) -> None:
            super().__init__()
            self.prompt = prompt
            self.max_new_tokens = max_new_tokens
            self.temperature = temperature
            self.top_p = top_p

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: Generation | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(placeholder="prompt (Enter generates, ctrl+s stops)", id="prompt",
                        compact=True)
            yield Label(" max")
            yield Input("64", id="max-new-tokens", type="integer", compact=True)
            yield Label(" T")
            yield Input("0", id="temperature", type="number", compact=True)
            yield Label(" top_p")
            yield Input("", placeholder="-", id="top-p", type="number", compact=True)
        yield Static("", id="gen-stats", markup=False)
        with VerticalScroll(id="output-scroll"):
            yield Static("", id="output", markup=False)

    def _number(self, widget_id: str, default: float) -> float:
        text = self.query_one(f"#{widget_id}", Input).value.strip()
        try:
            return float(text)
        except ValueError:
            return default

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "prompt":
            return
        event.stop()
        prompt = event.value.strip()
        if not prompt:
            return
        top_p_text = self.query_one("#top-p", Input).value.strip()
        self.post_message(self.Submitted(
            prompt, max(1, int(self._number("max-new-tokens", 64))),
            max(0.0, self._number("temperature", 0.0)),
            float(top_p_text) if top_p_text else None))

    @property
    def output_text(self) -> str:
        return self._shown.text if self._shown is not None else ""

    def show_session(self, session: Session) -> None:
        gen = session.generation
        if gen is self._shown:
            return
        text_changed = self._shown is None or gen.text != self._shown.text
        self._shown = gen
        if text_changed:
            self.query_one("#output", Static).update(gen.text)
            self.query_one("#output-scroll", VerticalScroll).scroll_end(animate=False)
        stats = self.query_one("#gen-stats", Static)
        done = gen.done
        if done is not None and not gen.running:
            ttft, rate = done.ttft_s, done.tokens_per_s
            stats.update(
                f"tokens {done.tokens}  TTFT {'N/A' if ttft is None else f'{ttft * 1000:.0f} ms'}"
                f"  {'N/A' if rate is None else f'{rate:.1f}'} tok/s"
                f"  KV cache {fmt_bytes(done.kv_cache_bytes)}  stopped: {done.stopped}")
        elif gen.running and gen.tokens == 0:
            stats.update("generating...")
        elif gen.running:
            stats.update(f"tokens {gen.tokens}  KV cache {fmt_bytes(gen.kv_cache_bytes)}")
